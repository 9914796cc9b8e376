package renderers

import (
	"bytes"
	"errors"
	"fmt"
	"strings"

	"github.com/santhosh-tekuri/jsonschema/v6"
	"helm.sh/helm/v3/pkg/chart"
	"helm.sh/helm/v3/pkg/chartutil"
)

// ErrSchemaRefRefused is wrapped by the error of a chart whose
// values.schema.json refers to a schema outside itself.
var ErrSchemaRefRefused = errors.New("schemas resolve inside values.schema.json only, never over the network or from the operator's disk; inline the referenced schema (under $defs)")

// schemaURL is where helm places a chart's schema (chartutil.ValidateAgainstSingleSchema);
// relative references resolve against it, to file:// URLs.
const schemaURL = "file:///values.schema.json"

// checkSchemaRefs compiles every values.schema.json of the chart and its
// subcharts as helm does before validating values, with loaders that refuse
// instead of reading: helm's own loaders fetch http(s):// references from the
// network and read file:// ones (relative references included) from the
// operator's disk. A schema that compiles here needs no loader, so helm's
// validation that follows loads nothing either. A schema that fails to
// compile for another reason is left to helm, which reports it.
func checkSchemaRefs(c *chart.Chart) error {
	if c.Schema != nil {
		if err := compileOffline(c.Schema); err != nil {
			return fmt.Errorf("chart %s: values.schema.json: %w", c.Name(), err)
		}
	}
	for _, sub := range c.Dependencies() {
		if err := checkSchemaRefs(sub); err != nil {
			return err
		}
	}
	return nil
}

func compileOffline(raw []byte) (refused error) {
	// helm recovers from the compiler's panics and reports them; a refusal
	// recorded before one stands.
	defer func() { _ = recover() }()
	schema, err := jsonschema.UnmarshalJSON(bytes.NewReader(raw))
	if err != nil {
		return nil
	}
	refuse := refusingLoader{refused: &refused}
	compiler := jsonschema.NewCompiler()
	compiler.UseLoader(jsonschema.SchemeURLLoader{
		"file":  refuse,
		"http":  refuse,
		"https": refuse,
		"urn":   urnLoader{},
	})
	if err := compiler.AddResource(schemaURL, schema); err != nil {
		return nil
	}
	_, _ = compiler.Compile(schemaURL)
	return refused
}

type refusingLoader struct{ refused *error }

func (l refusingLoader) Load(url string) (any, error) {
	err := fmt.Errorf("$ref %q refused: %w", url, ErrSchemaRefRefused)
	if *l.refused == nil {
		*l.refused = err
	}
	return nil, err
}

// urnLoader resolves urn: references as helm does: through
// chartutil.URNResolver, else a permissive schema.
type urnLoader struct{}

func (urnLoader) Load(url string) (any, error) {
	if doc, err := chartutil.URNResolver(url); err == nil && doc != nil {
		return doc, nil
	}
	return jsonschema.UnmarshalJSON(strings.NewReader("true"))
}
