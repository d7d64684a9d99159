package emulator

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"time"

	"sigs.k8s.io/yaml"

	"github.com/parley-chat/parley/knative/manifests"
)

// ProjectedToken is a service account token a pod gets in a projected
// volume (serviceAccountToken): the kubelet writes it at Path and rotates
// it before it expires. The emulator does the same, in a folder of its own.
type ProjectedToken struct {
	Subject, Audience string
	Path              string // in the container, as the manifest mounts it
	TTL               time.Duration
}

// addTokens reads the serviceAccountToken projections a Service mounts.
func (s *Spec) addTokens(o manifests.Object) error {
	var ks struct {
		Spec struct {
			Template struct {
				Spec struct {
					ServiceAccountName string `json:"serviceAccountName"`
					Volumes            []struct {
						Name      string `json:"name"`
						Projected *struct {
							Sources []struct {
								ServiceAccountToken *struct {
									Audience          string `json:"audience"`
									Path              string `json:"path"`
									ExpirationSeconds *int64 `json:"expirationSeconds"`
								} `json:"serviceAccountToken"`
							} `json:"sources"`
						} `json:"projected"`
					} `json:"volumes"`
					Containers []struct {
						VolumeMounts []struct {
							Name      string `json:"name"`
							MountPath string `json:"mountPath"`
						} `json:"volumeMounts"`
					} `json:"containers"`
				} `json:"spec"`
			} `json:"template"`
		} `json:"spec"`
	}
	if err := yaml.Unmarshal(o.Raw, &ks); err != nil {
		return err
	}
	spec := ks.Spec.Template.Spec
	sa := spec.ServiceAccountName
	if sa == "" {
		sa = "default"
	}
	mounts := map[string]string{}
	for _, c := range spec.Containers {
		for _, m := range c.VolumeMounts {
			mounts[m.Name] = m.MountPath
		}
	}
	for _, v := range spec.Volumes {
		if v.Projected == nil || mounts[v.Name] == "" {
			continue
		}
		for _, src := range v.Projected.Sources {
			t := src.ServiceAccountToken
			if t == nil {
				continue
			}
			ttl := time.Hour // the Kubernetes default
			if t.ExpirationSeconds != nil {
				ttl = time.Duration(*t.ExpirationSeconds) * time.Second
			}
			if s.Tokens == nil {
				s.Tokens = map[string][]ProjectedToken{}
			}
			key := o.Namespace + "/" + o.Name
			s.Tokens[key] = append(s.Tokens[key], ProjectedToken{Subject: ServiceAccountSubject(o.Namespace, sa),
				Audience: t.Audience, Path: filepath.Join(mounts[v.Name], t.Path), TTL: ttl})
		}
	}
	return nil
}

// tokenPath is where the emulator keeps a Service's projected token.
func (em *Emulator) tokenPath(service string, t ProjectedToken) string {
	return filepath.Join(em.tokenDir, strings.ReplaceAll(service, "/", "_"), filepath.Clean(t.Path))
}

// writeTokens mints every projected token afresh, as the kubelet rotates them.
func (em *Emulator) writeTokens() error {
	for service, tokens := range em.spec.Tokens {
		for _, t := range tokens {
			jwt, err := em.issuer.Mint(t.Subject, t.Audience, t.TTL)
			if err != nil {
				return err
			}
			path := em.tokenPath(service, t)
			if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
				return err
			}
			tmp := path + ".new"
			if err := os.WriteFile(tmp, []byte(jwt), 0o600); err != nil {
				return err
			}
			if err := os.Rename(tmp, path); err != nil { // readers never see half a token
				return err
			}
		}
	}
	return nil
}

// rotateTokens rewrites the tokens at 80% of the shortest lifetime, as the
// kubelet does, until ctx ends.
func (em *Emulator) rotateTokens(ctx context.Context) {
	every := time.Duration(0)
	for _, tokens := range em.spec.Tokens {
		for _, t := range tokens {
			if every == 0 || t.TTL < every {
				every = t.TTL
			}
		}
	}
	if every == 0 {
		return
	}
	tick := time.NewTicker(every * 8 / 10)
	defer tick.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-tick.C:
			if err := em.writeTokens(); err != nil {
				em.log.Error("rotating service account tokens", "error", err)
			}
		}
	}
}

// localTokenPath maps an env value naming a projected token's path in the
// container to the emulator's copy.
func (em *Emulator) localTokenPath(service, value string) string {
	for _, t := range em.spec.Tokens[service] {
		if value == t.Path {
			return em.tokenPath(service, t)
		}
	}
	return value
}

// setUpTokens creates the token folder and the first tokens.
func (em *Emulator) setUpTokens() error {
	if len(em.spec.Tokens) == 0 {
		return nil
	}
	dir, err := os.MkdirTemp("", "parley-emulator-tokens-")
	if err != nil {
		return fmt.Errorf("emulator: token folder: %w", err)
	}
	em.tokenDir = dir
	return em.writeTokens()
}

func (em *Emulator) removeTokens() {
	if em.tokenDir != "" {
		os.RemoveAll(em.tokenDir)
	}
}
