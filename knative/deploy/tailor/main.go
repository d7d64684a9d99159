// Command tailor adapts Knative's and Strimzi's release manifests before make
// deploy applies them: it writes Parley's settings (knative-config.yaml) into
// the released ConfigMaps, and scales every CPU request so the stack fits
// the node it is deployed to. Changing the manifests rather than patching
// the cluster afterwards means a re-run applies the same objects again and
// changes nothing, instead of resetting settings to the release defaults.
//
//	tailor -config knative/deploy/knative-config.yaml -cpu-percent 40 release.yaml... > tailored.yaml
//
// Every configured ConfigMap in a namespace the input has objects in must be
// found, so a release that renames one fails the deploy instead of silently
// dropping the setting.
package main

import (
	"bytes"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"strings"

	yamlv3 "go.yaml.in/yaml/v3"
	"k8s.io/apimachinery/pkg/api/resource"
)

func main() {
	config := flag.String("config", "", "ConfigMaps whose data to set in the released ones (required)")
	cpuPercent := flag.Int("cpu-percent", 100, "scale every CPU request to this percentage (limits stay)")
	flag.Parse()
	if err := run(*config, *cpuPercent, flag.Args(), os.Stdout); err != nil {
		fmt.Fprintln(os.Stderr, "tailor:", err)
		os.Exit(1)
	}
}

func run(configFile string, cpuPercent int, files []string, out io.Writer) error {
	if configFile == "" || len(files) == 0 {
		return errors.New("usage: tailor -config file [-cpu-percent n] manifest.yaml [manifest.yaml]")
	}
	if cpuPercent < 1 || cpuPercent > 100 {
		return fmt.Errorf("-cpu-percent %d: want 1 to 100", cpuPercent)
	}
	cfgDocs, err := readDocs(configFile)
	if err != nil {
		return err
	}
	settings := map[string]*yamlv3.Node{} // namespace/name → data mapping
	for _, d := range cfgDocs {
		id := identity(d)
		data := lookup(d, "data")
		if id.kind != "ConfigMap" || data == nil || data.Kind != yamlv3.MappingNode {
			return fmt.Errorf("%s: %s/%s is not a ConfigMap with data", configFile, id.namespace, id.name)
		}
		settings[id.namespace+"/"+id.name] = data
	}
	t := tailor{settings: settings, cpuPercent: cpuPercent, found: map[string]bool{}, namespaces: map[string]bool{}}
	var docs []*yamlv3.Node
	for _, f := range files {
		ds, err := readDocs(f)
		if err != nil {
			return err
		}
		for _, d := range ds {
			if err := t.doc(d); err != nil {
				return fmt.Errorf("%s: %w", f, err)
			}
		}
		docs = append(docs, ds...)
	}
	for key := range settings {
		ns, _, _ := strings.Cut(key, "/")
		if t.namespaces[ns] && !t.found[key] {
			return fmt.Errorf("ConfigMap %s is not in the release manifests: %s has a setting for it", key, configFile)
		}
	}
	enc := yamlv3.NewEncoder(out)
	enc.SetIndent(2)
	for _, d := range docs {
		if err := enc.Encode(d); err != nil {
			return err
		}
	}
	return enc.Close()
}

type tailor struct {
	settings   map[string]*yamlv3.Node
	cpuPercent int
	found      map[string]bool
	namespaces map[string]bool
}

func (t *tailor) doc(d *yamlv3.Node) error {
	id := identity(d)
	if id.namespace != "" {
		t.namespaces[id.namespace] = true
	}
	if id.kind == "ConfigMap" {
		key := id.namespace + "/" + id.name
		if want, ok := t.settings[key]; ok {
			t.found[key] = true
			if err := setData(d, want); err != nil {
				return fmt.Errorf("ConfigMap %s: %w", key, err)
			}
		}
	}
	if t.cpuPercent != 100 {
		return scaleCPU(d, t.cpuPercent)
	}
	return nil
}

type objectID struct{ kind, namespace, name string }

func identity(d *yamlv3.Node) objectID {
	var id objectID
	if k := lookup(d, "kind"); k != nil {
		id.kind = k.Value
	}
	if m := lookup(d, "metadata"); m != nil {
		if n := lookup(m, "name"); n != nil {
			id.name = n.Value
		}
		if n := lookup(m, "namespace"); n != nil {
			id.namespace = n.Value
		}
	}
	return id
}

// setData writes want's keys into the ConfigMap's data. A key ending in
// .properties is a Java properties file: only the listed properties are
// replaced (or added), so the release's other settings are kept.
func setData(cm, want *yamlv3.Node) error {
	data := lookup(cm, "data")
	if data == nil {
		data = &yamlv3.Node{Kind: yamlv3.MappingNode, Tag: "!!map"}
		mapping(cm).Content = append(mapping(cm).Content, scalar("data"), data)
	}
	for i := 0; i+1 < len(want.Content); i += 2 {
		key, value := want.Content[i].Value, want.Content[i+1].Value
		cur := lookup(data, key)
		if cur == nil {
			cur = scalar("")
			data.Content = append(data.Content, scalar(key), cur)
		}
		if strings.HasSuffix(key, ".properties") {
			merged, err := setProperties(cur.Value, value)
			if err != nil {
				return fmt.Errorf("%s: %w", key, err)
			}
			value = merged
		}
		cur.Value, cur.Tag, cur.Style = value, "!!str", 0
		if strings.Contains(value, "\n") {
			cur.Style = yamlv3.LiteralStyle
		}
	}
	return nil
}

func setProperties(released, want string) (string, error) {
	lines := strings.Split(strings.TrimRight(released, "\n"), "\n")
	if released == "" {
		lines = nil
	}
	for _, w := range strings.Split(strings.TrimSpace(want), "\n") {
		k, _, ok := strings.Cut(w, "=")
		k = strings.TrimSpace(k)
		if !ok || k == "" {
			return "", fmt.Errorf("%q is not key=value", w)
		}
		replaced := false
		for i, l := range lines {
			if lk, _, ok := strings.Cut(l, "="); ok && strings.TrimSpace(lk) == k && !strings.HasPrefix(strings.TrimSpace(l), "#") {
				lines[i], replaced = strings.TrimSpace(w), true
			}
		}
		if !replaced {
			lines = append(lines, strings.TrimSpace(w))
		}
	}
	return strings.Join(lines, "\n") + "\n", nil
}

// scaleCPU scales the cpu of every resources.requests in the object:
// containers of workloads and Knative Services alike, and the resources of
// Strimzi's custom resources.
func scaleCPU(n *yamlv3.Node, percent int) error {
	if n.Kind == yamlv3.DocumentNode || n.Kind == yamlv3.SequenceNode {
		for _, c := range n.Content {
			if err := scaleCPU(c, percent); err != nil {
				return err
			}
		}
		return nil
	}
	if n.Kind != yamlv3.MappingNode {
		return nil
	}
	for i := 0; i+1 < len(n.Content); i += 2 {
		k, v := n.Content[i], n.Content[i+1]
		if k.Value == "resources" && v.Kind == yamlv3.MappingNode {
			if req := lookup(v, "requests"); req != nil && req.Kind == yamlv3.MappingNode {
				if cpu := lookup(req, "cpu"); cpu != nil && cpu.Kind == yamlv3.ScalarNode {
					q, err := resource.ParseQuantity(cpu.Value)
					if err != nil {
						return fmt.Errorf("cpu request %q: %w", cpu.Value, err)
					}
					// Never below 1m: a zero request would mean "no request".
					m := max(q.MilliValue()*int64(percent)/100, 1)
					cpu.Value, cpu.Tag, cpu.Style = fmt.Sprintf("%dm", m), "!!str", 0
				}
			}
		}
		if err := scaleCPU(v, percent); err != nil {
			return err
		}
	}
	return nil
}

func readDocs(file string) ([]*yamlv3.Node, error) {
	b, err := os.ReadFile(file)
	if err != nil {
		return nil, err
	}
	dec := yamlv3.NewDecoder(bytes.NewReader(b))
	var docs []*yamlv3.Node
	for {
		var d yamlv3.Node
		err := dec.Decode(&d)
		if err == io.EOF {
			return docs, nil
		}
		if err != nil {
			return nil, fmt.Errorf("%s: %w", file, err)
		}
		if len(d.Content) > 0 && d.Content[0].Kind == yamlv3.MappingNode {
			docs = append(docs, &d)
		}
	}
}

func mapping(n *yamlv3.Node) *yamlv3.Node {
	if n.Kind == yamlv3.DocumentNode && len(n.Content) > 0 {
		return n.Content[0]
	}
	return n
}

func lookup(n *yamlv3.Node, key string) *yamlv3.Node {
	m := mapping(n)
	if m.Kind != yamlv3.MappingNode {
		return nil
	}
	for i := 0; i+1 < len(m.Content); i += 2 {
		if m.Content[i].Value == key {
			return m.Content[i+1]
		}
	}
	return nil
}

func scalar(v string) *yamlv3.Node {
	return &yamlv3.Node{Kind: yamlv3.ScalarNode, Tag: "!!str", Value: v}
}
