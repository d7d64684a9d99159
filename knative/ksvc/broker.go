package ksvc

import (
	"fmt"
	"net/http"
	"net/url"
	"os"
	"strings"

	cloudevents "github.com/cloudevents/sdk-go/v2"
	cehttp "github.com/cloudevents/sdk-go/v2/protocol/http"
)

// BrokerTokenFileEnv names the file holding the service's OIDC token for
// its Broker: a projected service account token whose audience is the
// Broker's (see knative/base). Knative Eventing's sender authentication
// refuses a post to the ingress without it.
const BrokerTokenFileEnv = "BROKER_TOKEN_FILE"

// NewBrokerClient returns a CloudEvents client for posting to the Broker's
// ingress at target. With a token file, every request to target's host
// carries the token as a bearer credential (none to a host a redirect
// leads to); the file is read for each request because the kubelet (or the
// local emulator) rotates it in place.
func NewBrokerClient(target, tokenFile string) (cloudevents.Client, error) {
	var opts []cehttp.Option
	if tokenFile != "" {
		u, err := url.Parse(target)
		if err != nil {
			return nil, fmt.Errorf("broker client: target %q: %w", target, err)
		}
		opts = append(opts, cehttp.WithRoundTripper(&bearerFile{path: tokenFile, host: u.Host, next: http.DefaultTransport}))
	}
	p, err := cloudevents.NewHTTP(opts...)
	if err != nil {
		return nil, fmt.Errorf("broker client: %w", err)
	}
	c, err := cloudevents.NewClient(p, cloudevents.WithTimeNow(), cloudevents.WithUUIDs())
	if err != nil {
		return nil, fmt.Errorf("broker client: %w", err)
	}
	return c, nil
}

type bearerFile struct {
	path, host string
	next       http.RoundTripper
}

func (b *bearerFile) RoundTrip(req *http.Request) (*http.Response, error) {
	if req.URL.Host != b.host {
		return b.next.RoundTrip(req)
	}
	token, err := os.ReadFile(b.path)
	if err != nil {
		return nil, fmt.Errorf("broker token: %w", err)
	}
	req = req.Clone(req.Context())
	req.Header.Set("Authorization", "Bearer "+strings.TrimSpace(string(token)))
	return b.next.RoundTrip(req)
}
