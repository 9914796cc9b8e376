package renderers

import (
	"fmt"

	"sigs.k8s.io/yaml"
)

// mergeYAML parses data (a YAML map, possibly empty) and merges it over base.
func mergeYAML(base map[string]any, name string, data []byte) (map[string]any, error) {
	if len(data) == 0 {
		return base, nil
	}
	m := map[string]any{}
	if err := yaml.Unmarshal(data, &m); err != nil {
		return nil, fmt.Errorf("%s: %w", name, err)
	}
	return MergeValues(base, m), nil
}

// MergeValues deep-merges override into base and returns the result: maps
// merge key by key, any other value in override replaces base's. Neither
// argument is modified.
func MergeValues(base, override map[string]any) map[string]any {
	out := make(map[string]any, len(base)+len(override))
	for k, v := range base {
		out[k] = v
	}
	for k, v := range override {
		if bm, ok := out[k].(map[string]any); ok {
			if om, ok := v.(map[string]any); ok {
				out[k] = MergeValues(bm, om)
				continue
			}
		}
		out[k] = v
	}
	return out
}
