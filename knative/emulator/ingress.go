package emulator

import (
	"errors"
	"net/http"
	"strconv"
	"strings"

	"github.com/cloudevents/sdk-go/v2/binding"
	cehttp "github.com/cloudevents/sdk-go/v2/protocol/http"
)

// maxIngressBytes caps one event posted to the Broker ingress, as the
// Kafka broker's default max.request.size (1 MiB) would.
const maxIngressBytes = 1 << 20

// ingress accepts CloudEvents over HTTP at /<namespace>/<broker>, like the
// Kafka Broker's ingress on a cluster, and appends them to the Broker's topic.
type ingress struct{ em *Emulator }

func (in *ingress) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	key := strings.Trim(r.URL.Path, "/")
	b, ok := in.em.brokers[key]
	status := http.StatusAccepted
	defer func() { in.em.metrics.ingress.WithLabelValues(key, strconv.Itoa(status)).Inc() }()
	fail := func(code int, msg string) {
		status = code
		http.Error(w, msg, code)
	}
	if !ok {
		fail(http.StatusNotFound, "no broker at /"+key+": use /<namespace>/<broker>")
		return
	}
	if r.Method != http.MethodPost {
		w.Header().Set("Allow", http.MethodPost)
		fail(http.StatusMethodNotAllowed, "POST a CloudEvent")
		return
	}
	// Authentication comes first, before the body is read (pkg/auth verifyAuthN).
	subject := ""
	if in.em.cfg.OIDC {
		token, ok := strings.CutPrefix(r.Header.Get("Authorization"), "Bearer ")
		if !ok || token == "" {
			fail(http.StatusUnauthorized, "no OIDC token: send the sender's token as Authorization: Bearer")
			return
		}
		sub, err := in.em.issuer.Verify(token, brokerAudience(b.Namespace, b.Name))
		if err != nil {
			fail(http.StatusUnauthorized, "OIDC token not valid for this Broker: "+err.Error())
			return
		}
		subject = sub
	}
	r.Body = http.MaxBytesReader(w, r.Body, maxIngressBytes)
	e, err := binding.ToEvent(r.Context(), cehttp.NewMessageFromHttpRequest(r))
	if err == nil {
		err = e.Validate()
	}
	if err != nil {
		var tooBig *http.MaxBytesError
		if errors.As(err, &tooBig) {
			fail(http.StatusRequestEntityTooLarge, "event larger than 1 MiB")
			return
		}
		fail(http.StatusBadRequest, "not a valid CloudEvent: "+err.Error())
		return
	}
	if in.em.cfg.OIDC {
		if err := in.em.authorizers["Broker/"+key].Allow(subject, *e); err != nil {
			in.em.log.Warn("ingress refused an event", "broker", key, "subject", subject, "ce_type", e.Type(), "ce_source", e.Source(), "error", err)
			fail(http.StatusForbidden, err.Error())
			return
		}
	}
	if err := in.em.publish(r.Context(), b.Topic, *e); err != nil {
		in.em.log.Error("ingress produce failed", "broker", key, "ce_id", e.ID(), "error", err)
		fail(http.StatusServiceUnavailable, "broker unavailable: "+err.Error())
		return
	}
	w.WriteHeader(status)
}
