package ksvc

import (
	"fmt"
	"net/http"
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

// NewBrokerClient returns a CloudEvents client for posting to a Broker's
// ingress. With a token file, every request carries the token as a bearer
// credential; the file is read for each request because the kubelet (or
// the local emulator) rotates it in place.
func NewBrokerClient(tokenFile string) (cloudevents.Client, error) {
	var opts []cehttp.Option
	if tokenFile != "" {
		opts = append(opts, cehttp.WithRoundTripper(&bearerFile{path: tokenFile, next: http.DefaultTransport}))
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
	path string
	next http.RoundTripper
}

func (b *bearerFile) RoundTrip(req *http.Request) (*http.Response, error) {
	token, err := os.ReadFile(b.path)
	if err != nil {
		return nil, fmt.Errorf("broker token: %w", err)
	}
	req = req.Clone(req.Context())
	req.Header.Set("Authorization", "Bearer "+strings.TrimSpace(string(token)))
	return b.next.RoundTrip(req)
}
