package inputs_test

import (
	"context"
	"strings"
	"testing"

	configsv1 "github.com/configsync/configsync/api/v1alpha1"
	"github.com/configsync/configsync/renderers/inputs"
)

// What Resolve reads for each kind of step, through any Reader, and how it
// names the step when something is missing.
func TestResolve(t *testing.T) {
	objs := inputs.Objects{}
	objs.Put("ConfigMap", "shared", "values.yaml", []byte("region: eu\n"))
	objs.Put("Secret", "tuned", "prod.yaml", []byte("replicas: 3\n"))
	objs.Put("ConfigMap", "broken", "values.yaml", []byte("- a list\n"))
	objs.Put("Secret", "keys", "a.agekey", []byte("AGE-SECRET-KEY-1"))
	objs.Put("Secret", "keys", "b.asc", []byte("-----BEGIN PGP"))
	objs.Put("Secret", "keys", "README", []byte("ignored"))
	objs.Put("Secret", "nokeys", "README", []byte("ignored"))

	template := func(refs ...configsv1.ValuesReference) configsv1.RenderStep {
		return configsv1.RenderStep{Template: &configsv1.TemplateStep{ValuesFrom: refs}}
	}
	sops := func(name string) configsv1.RenderStep {
		return configsv1.RenderStep{Sops: &configsv1.SopsStep{DecryptionSecretRef: configsv1.LocalObjectReference{Name: name}}}
	}
	kube := func() (string, []string) { return "v1.37.2", []string{"apps/v1"} }

	t.Run("each step gets its own inputs", func(t *testing.T) {
		steps := []configsv1.RenderStep{
			template(configsv1.ValuesReference{Kind: "ConfigMap", Name: "shared"},
				configsv1.ValuesReference{Kind: "Secret", Name: "tuned", Key: "prod.yaml"},
				configsv1.ValuesReference{Kind: "ConfigMap", Name: "absent", Optional: true}),
			sops("keys"),
			{Helm: &configsv1.HelmStep{Chart: "app"}},
		}
		in, err := inputs.Resolve(context.Background(), "team", steps, objs, inputs.Options{Capabilities: kube})
		if err != nil {
			t.Fatal(err)
		}
		if v := in.Steps[0].ValuesFrom; len(v) != 2 || v[0]["region"] != "eu" || v[1]["replicas"] != float64(3) {
			t.Errorf("valuesFrom %v", v)
		}
		if s := in.Steps[1]; len(s.AgeIdentities) != 1 || len(s.PGPKeys) != 1 {
			t.Errorf("sops keys: %d age, %d pgp; want 1 and 1", len(s.AgeIdentities), len(s.PGPKeys))
		}
		if in.KubeVersion != "v1.37.2" || in.Namespace != "team" {
			t.Errorf("kube version %q, namespace %q", in.KubeVersion, in.Namespace)
		}
	})

	for _, c := range []struct {
		name  string
		steps []configsv1.RenderStep
		want  string
	}{
		{"a missing ConfigMap", []configsv1.RenderStep{sops("keys"), template(configsv1.ValuesReference{Kind: "ConfigMap", Name: "absent"})},
			`render step 2 (template): valuesFrom ConfigMap absent: key "values.yaml" not found`},
		{"a missing key", []configsv1.RenderStep{template(configsv1.ValuesReference{Kind: "Secret", Name: "tuned"})},
			`render step 1 (template): valuesFrom Secret tuned: key "values.yaml" not found`},
		{"values that are not a map", []configsv1.RenderStep{template(configsv1.ValuesReference{Kind: "ConfigMap", Name: "broken"})},
			`render step 1 (template): valuesFrom ConfigMap broken key "values.yaml" is not a YAML map`},
		{"a missing decryption Secret", []configsv1.RenderStep{sops("absent")},
			"render step 1 (sops): decryption Secret absent not found"},
		{"a decryption Secret without keys", []configsv1.RenderStep{sops("nokeys")},
			"render step 1 (sops): decryption Secret nokeys has no key ending in .agekey or .asc"},
	} {
		t.Run(c.name, func(t *testing.T) {
			_, err := inputs.Resolve(context.Background(), "team", c.steps, objs, inputs.Options{})
			if err == nil || !strings.Contains(err.Error(), c.want) {
				t.Errorf("error %v, want %q", err, c.want)
			}
		})
	}
}
