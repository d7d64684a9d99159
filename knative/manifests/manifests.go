// Package manifests renders Parley's kustomize trees and splits the result
// into objects. The emulator and the validator both start from Render, so
// they see exactly what `kubectl apply -k` would apply.
package manifests

import (
	"bytes"
	"fmt"
	"io"
	"path/filepath"
	"runtime"

	yamlv3 "go.yaml.in/yaml/v3"
	"sigs.k8s.io/kustomize/api/krusty"
	"sigs.k8s.io/kustomize/kyaml/filesys"
	"sigs.k8s.io/yaml"
)

// Render runs kustomize on the kustomization directory dir.
func Render(dir string) ([]byte, error) {
	k := krusty.MakeKustomizer(krusty.MakeDefaultOptions())
	res, err := k.Run(filesys.MakeFsOnDisk(), dir)
	if err != nil {
		return nil, fmt.Errorf("manifests: kustomize %s: %w", dir, err)
	}
	out, err := res.AsYaml()
	if err != nil {
		return nil, fmt.Errorf("manifests: render %s: %w", dir, err)
	}
	return out, nil
}

// Object is one document of a rendered stream, with its identity parsed.
type Object struct {
	APIVersion string
	Kind       string
	Name       string
	Namespace  string
	// Raw is the document as JSON, ready for a typed strict decode.
	Raw []byte
}

func (o Object) String() string {
	return fmt.Sprintf("%s %s/%s", o.Kind, o.Namespace, o.Name)
}

// Split parses a multi-document YAML stream. A document that is not valid
// YAML, or lacks apiVersion, kind or metadata.name, is an error.
func Split(stream []byte) ([]Object, error) {
	dec := yamlv3.NewDecoder(bytes.NewReader(stream))
	var out []Object
	for i := 0; ; i++ {
		var node yamlv3.Node
		err := dec.Decode(&node)
		if err == io.EOF {
			return out, nil
		}
		if err != nil {
			return nil, fmt.Errorf("manifests: document %d: %w", i, err)
		}
		doc, err := yamlv3.Marshal(&node)
		if err != nil {
			return nil, fmt.Errorf("manifests: document %d: %w", i, err)
		}
		raw, err := yaml.YAMLToJSON(doc)
		if err != nil {
			return nil, fmt.Errorf("manifests: document %d: %w", i, err)
		}
		if string(raw) == "null" {
			continue
		}
		var meta struct {
			APIVersion string `json:"apiVersion"`
			Kind       string `json:"kind"`
			Metadata   struct {
				Name      string `json:"name"`
				Namespace string `json:"namespace"`
			} `json:"metadata"`
		}
		if err := yaml.Unmarshal(raw, &meta); err != nil {
			return nil, fmt.Errorf("manifests: document %d: %w", i, err)
		}
		if meta.APIVersion == "" || meta.Kind == "" || meta.Metadata.Name == "" {
			return nil, fmt.Errorf("manifests: document %d lacks apiVersion, kind or metadata.name", i)
		}
		out = append(out, Object{APIVersion: meta.APIVersion, Kind: meta.Kind, Name: meta.Metadata.Name,
			Namespace: meta.Metadata.Namespace, Raw: raw})
	}
}

// Dir returns the absolute path of a folder under knative/ in this source
// tree, such as "base", for tests and tools run from anywhere in the repo.
func Dir(name string) string {
	_, file, _, _ := runtime.Caller(0)
	return filepath.Join(filepath.Dir(file), "..", name)
}
