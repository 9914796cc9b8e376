package renderers_test

import (
	"context"
	"errors"
	"strings"
	"testing"

	apiextensionsv1 "k8s.io/apiextensions-apiserver/pkg/apis/apiextensions/v1"

	configsv1 "github.com/configsync/configsync/api/v1alpha1"
	"github.com/configsync/configsync/internal/filetree"
	"github.com/configsync/configsync/renderers"
)

func schemaChart(schema string) filetree.Tree {
	return filetree.Tree{
		"chart/Chart.yaml":             []byte("apiVersion: v2\nname: app\nversion: 0.1.0\n"),
		"chart/values.yaml":            []byte("replicaCount: 1\nimage: {repository: nginx}\n"),
		"chart/templates/cm.yaml":      []byte("apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: app\ndata:\n  replicas: {{ .Values.replicaCount | quote }}\n"),
		"chart/values.schema.json":     []byte(schema),
		"chart/charts/sub/Chart.yaml":  []byte("apiVersion: v2\nname: sub\nversion: 0.1.0\n"),
		"chart/charts/sub/values.yaml": []byte("enabled: true\n"),
	}
}

// TestHelmSchemaRefsStayInsideTheChart: helm resolves $ref in
// values.schema.json with loaders that fetch http(s):// from the network and
// read file:// (relative references too) from the disk. A render refuses
// both, sends no request (counted on a loopback listener) and still enforces
// schemas whose references stay inside the file.
func TestHelmSchemaRefsStayInsideTheChart(t *testing.T) {
	host, requests := attackerListener(t)
	url := "http://" + host
	cases := []struct {
		name      string
		schema    string
		subSchema string
		wantErr   string
	}{
		{name: "http $ref", schema: `{"type": "object", "properties": {"image": {"$ref": "` + url + `/schemas/image.json"}}}`,
			wantErr: `chart app: values.schema.json: $ref "` + url + `/schemas/image.json" refused`},
		{name: "https $ref", schema: `{"properties": {"image": {"$ref": "https://` + host + `/schemas/image.json"}}}`,
			wantErr: `$ref "https://` + host + `/schemas/image.json" refused`},
		{name: "file $ref to the operator's disk", schema: `{"properties": {"image": {"$ref": "file:///etc/hostname"}}}`,
			wantErr: `$ref "file:///etc/hostname" refused`},
		{name: "relative $ref resolves to file://", schema: `{"properties": {"image": {"$ref": "image.schema.json"}}}`,
			wantErr: `$ref "file:///image.schema.json" refused`},
		{name: "$id moves the base to http", schema: `{"$id": "` + url + `/schemas/values.json", "properties": {"image": {"$ref": "image.json"}}}`,
			wantErr: `$ref "` + url + `/schemas/image.json" refused`},
		{name: "custom $schema over http", schema: `{"$schema": "` + url + `/meta.json", "type": "object"}`,
			wantErr: `$ref "` + url + `/meta.json" refused`},
		{name: "subchart schema", schema: `{"type": "object"}`, subSchema: `{"properties": {"enabled": {"$ref": "` + url + `/bool.json"}}}`,
			wantErr: `chart sub: values.schema.json: $ref "` + url + `/bool.json" refused`},
		{name: "references inside the file still validate", schema: `{"$defs": {"count": {"type": "integer"}}, "properties": {"replicaCount": {"$ref": "#/$defs/count"}}}`},
		{name: "standard meta-schema is built in", schema: `{"$schema": "http://json-schema.org/draft-07/schema#", "definitions": {"count": {"type": "integer"}}, "properties": {"replicaCount": {"$ref": "#/definitions/count"}}}`},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			tree := schemaChart(tc.schema)
			if tc.subSchema != "" {
				tree["chart/charts/sub/values.schema.json"] = []byte(tc.subSchema)
			}
			step := []configsv1.RenderStep{{Helm: &configsv1.HelmStep{Chart: "chart"}}}
			requests.Store(0)
			_, err := renderers.Run(context.Background(), step, renderers.Inputs{}, tree)
			if n := requests.Load(); n != 0 {
				t.Fatalf("%d requests reached the network", n)
			}
			if tc.wantErr == "" {
				if err != nil {
					t.Fatalf("render: %v", err)
				}
				// The schema is still enforced.
				bad := []configsv1.RenderStep{{Helm: &configsv1.HelmStep{Chart: "chart", Values: &apiextensionsv1.JSON{Raw: []byte(`{"replicaCount": "three"}`)}}}}
				if _, err := renderers.Run(context.Background(), bad, renderers.Inputs{}, tree); err == nil || !strings.Contains(err.Error(), "values don't meet the specifications of the schema") {
					t.Fatalf("error %v, want a schema violation", err)
				}
				return
			}
			if err == nil || !errors.Is(err, renderers.ErrSchemaRefRefused) || !strings.Contains(err.Error(), tc.wantErr) {
				t.Fatalf("error %v, want a refusal containing %q", err, tc.wantErr)
			}
			t.Logf("refused: %v", err)
		})
	}
}
