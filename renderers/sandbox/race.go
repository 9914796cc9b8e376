//go:build race

package sandbox

// raceDetector says this binary is built with -race: ThreadSanitizer maps
// its shadow memory as the program grows, which RLIMIT_DATA would refuse,
// so the watchdog alone bounds memory in such a binary (tests only).
const raceDetector = true
