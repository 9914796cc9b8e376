package charts

import (
	"context"
	"errors"
)

type state struct{}

func newFetcher(o Options) *Fetcher { return &Fetcher{opts: o, state: &state{}} }

var errNotBuilt = errors.New("remote charts: not built yet")

func (f *Fetcher) resolve(ctx context.Context, ref Ref, creds *Credentials, refresh bool) (Pinned, error) {
	return Pinned{}, &Error{Reason: ReasonChartUnreachable, Err: errNotBuilt}
}

func (f *Fetcher) load(ctx context.Context, p Pinned, creds *Credentials) ([]byte, error) {
	return nil, &Error{Reason: ReasonChartUnreachable, Err: errNotBuilt}
}

func (f *Fetcher) dependencies(ctx context.Context, chartYAML, chartLock []byte, creds func(string) *Credentials) ([]Pinned, map[string][]byte, error) {
	return nil, nil, &Error{Reason: ReasonChartUnreachable, Err: errNotBuilt}
}
