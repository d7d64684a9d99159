package emulator

import (
	"bytes"
	"cmp"
	"context"
	"encoding/base64"
	"errors"
	"fmt"
	"io"
	"net/http"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/cloudevents/sdk-go/v2/binding"
	"github.com/cloudevents/sdk-go/v2/event"
	cehttp "github.com/cloudevents/sdk-go/v2/protocol/http"
	"github.com/cloudevents/sdk-go/v2/types"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/parley-chat/parley/kafka/cekafka"
)

// dispatcher is one Trigger: a consumer group on its Broker's topic that
// filters records and delivers matching events to the subscriber.
type dispatcher struct {
	em         *Emulator
	spec       TriggerSpec
	name       string // namespace/name, for logs and metrics
	subscriber string // resolved URL
	// rev is the subscriber when it is a Service of this emulator: events
	// pass the same scale-from-zero gate as the activator's requests, then
	// go straight to the process, without a second HTTP hop in this process.
	rev    *revision
	topic  string
	client *kgo.Client
}

// maxUnordered bounds concurrent deliveries of an unordered Trigger.
const maxUnordered = 256

// commitEvery spaces a Trigger's offset commits. Committing after every
// poll made each event cost every Trigger a commit round trip, whether its
// filter matched or not; like Knative's dispatcher, delivered offsets are
// committed periodically instead, and on shutdown.
const commitEvery = time.Second

// run consumes until ctx ends. An event is never committed undelivered: a
// crash or shutdown means redelivery, never loss.
//
// Ordered Triggers deliver each poll completely (one goroutine per
// partition, in offset order) before polling again. Unordered Triggers, as
// Knative's unordered consumer does, keep polling while up to maxUnordered
// deliveries run: an event waiting out its retries holds back that
// partition's commits, never other deliveries. Either way each partition is
// committed up to its first event not yet settled (inFlight), so a stop
// in the middle of a poll keeps what was delivered before it.
func (d *dispatcher) run(ctx context.Context) {
	var (
		lastCommit time.Time
		recent     eventRate
		inFlight   = newInFlight(d.topic)
		sem        = make(chan struct{}, maxUnordered)
		running    sync.WaitGroup // unordered deliveries
	)
	commit := func(ctx context.Context) {
		delivered := inFlight.committable()
		if len(delivered) == 0 {
			return
		}
		d.client.CommitOffsetsSync(ctx, delivered, func(_ *kgo.Client, _ *kmsg.OffsetCommitRequest, _ *kmsg.OffsetCommitResponse, err error) {
			if err != nil && ctx.Err() == nil {
				d.em.log.Warn("trigger commit failed; events may be redelivered", "trigger", d.name, "error", err)
			}
		})
		lastCommit = time.Now()
	}
	defer func() {
		running.Wait() // ctx is done: they end at once, and only what they finished counts
		final, cancel := context.WithTimeout(context.Background(), 2*time.Second)
		commit(final)
		cancel()
		// With BlockRebalanceOnPoll, Close waits for a blocked rebalance: release it first.
		d.client.AllowRebalance()
		d.client.Close()
	}()
	for {
		// With deliveries to commit (or, unordered, still running), the
		// poll waits no longer than the commit is due, so a quiet Trigger
		// does not sit on them.
		pollCtx, cancel := ctx, context.CancelFunc(func() {})
		if !inFlight.empty() {
			pollCtx, cancel = context.WithTimeout(ctx, max(commitEvery-time.Since(lastCommit), time.Millisecond))
		}
		fetches := d.client.PollRecords(pollCtx, 2000)
		cancel()
		if ctx.Err() != nil || fetches.IsClientClosed() {
			return
		}
		if pollCtx.Err() != nil && fetches.NumRecords() == 0 {
			commit(ctx)
			d.client.AllowRebalance() // franz-go counts even a poll that ends with ctx as one to release
			continue
		}
		d.em.metrics.polls.WithLabelValues(d.name).Inc()
		busy := recent.add(fetches.NumRecords(), time.Now()) >= busyEvents
		fetches.EachError(func(topic string, p int32, err error) {
			if errors.Is(err, context.DeadlineExceeded) {
				return
			}
			d.em.log.Warn("trigger fetch error", "trigger", d.name, "topic", topic, "partition", p, "error", err)
		})
		if d.spec.Ordered {
			var wg sync.WaitGroup
			fetches.EachPartition(func(p kgo.FetchTopicPartition) {
				var todo []*kgo.Record
				for _, rec := range p.Records {
					match := d.matches(rec)
					inFlight.add(rec, !match) // one that fails the filter is delivered, as far as this Trigger goes
					if match {
						todo = append(todo, rec)
					}
				}
				if len(todo) == 0 {
					return
				}
				wg.Add(1)
				go func() {
					defer wg.Done()
					for _, rec := range todo {
						if !d.handle(ctx, rec) {
							return // stopping: this record and the rest are redelivered after restart
						}
						inFlight.done(rec)
					}
				}()
			})
			wg.Wait()
			if ctx.Err() != nil {
				return
			}
		} else {
			stopped := false
			thisPoll := newPollDone()
			fetches.EachRecord(func(rec *kgo.Record) {
				if stopped {
					return
				}
				if !d.matches(rec) {
					inFlight.add(rec, true) // delivered, as far as this Trigger goes
					return
				}
				select {
				case sem <- struct{}{}:
				case <-ctx.Done():
					stopped = true // the rest of this poll is redelivered after restart
					return
				}
				inFlight.add(rec, false)
				running.Add(1)
				thisPoll.add()
				go func() {
					defer func() { <-sem; thisPoll.finish(); running.Done() }()
					if d.handle(ctx, rec) {
						inFlight.done(rec)
					}
				}()
			})
			thisPoll.finish() // the launching is done
			if stopped {
				return
			}
			d.await(ctx, thisPoll)
		}
		if time.Since(lastCommit) >= commitEvery {
			commit(ctx)
		}
		d.client.AllowRebalance()
		if n := fetches.NumRecords(); busy && n > 0 && n < lingerBelow {
			linger := time.NewTimer(busyLinger)
			select {
			case <-ctx.Done():
			case <-linger.C:
			}
			linger.Stop()
		}
	}
}

// unorderedHold is how long an unordered Trigger waits for a poll's
// deliveries before polling again. Most finish well within it, and the
// events that arrived meanwhile then come in one fetch and reach their
// subscribers together (persist's micro-batches fill); one waiting out its
// retries holds the Trigger up no longer than this.
const unorderedHold = 50 * time.Millisecond

// While its topic is busy (busyEvents events or more within the last one
// or two rateWindows), a Trigger that polled only a few events waits
// busyLinger before polling again, so that events come in batches: fewer
// fetches (every Trigger fetches every event of its Broker, and most are
// for others), and fuller micro-batches in the functions. An event can wait
// that much longer, under load only. A poll of lingerBelow events or more
// is a backlog, and the Trigger polls again at once. At 500 messages/s,
// 10 ms made two polls per message over Parley's 11 Triggers; 25 ms made
// 0.85 and saved ~15% of the Broker's CPU per message; 50 ms, with fuller
// batches in persist, moderation and FerretDB, takes another ~2% off the
// whole pipeline's CPU per message (BENCHMARKS.md). Every Trigger is off
// the send path: a message reaches its room first, and is stored,
// moderated and indexed up to this much later per hop.
const (
	busyLinger  = 50 * time.Millisecond
	lingerBelow = 64
	busyEvents  = 50
	rateWindow  = 100 * time.Millisecond
)

// eventRate counts the events a Trigger polled in the current and the
// previous rateWindow.
type eventRate struct {
	start     time.Time
	prev, cur int
}

// add counts n events polled at now and returns the count over the current
// and previous windows.
func (r *eventRate) add(n int, now time.Time) int {
	switch elapsed := now.Sub(r.start); {
	case elapsed >= 2*rateWindow:
		r.prev, r.cur, r.start = 0, 0, now
	case elapsed >= rateWindow:
		r.prev, r.cur, r.start = r.cur, 0, r.start.Add(rateWindow)
	}
	r.cur += n
	return r.prev + r.cur
}

// pollDone closes done when a poll's deliveries, and their launching,
// have all finished.
type pollDone struct {
	left atomic.Int64
	done chan struct{}
}

func newPollDone() *pollDone {
	p := &pollDone{done: make(chan struct{})}
	p.left.Store(1) // the launching
	return p
}

func (p *pollDone) add() { p.left.Add(1) }

func (p *pollDone) finish() {
	if p.left.Add(-1) == 0 {
		close(p.done)
	}
}

// await waits for a poll's deliveries, for at most unorderedHold.
func (d *dispatcher) await(ctx context.Context, poll *pollDone) {
	hold := time.NewTimer(unorderedHold)
	defer hold.Stop()
	select {
	case <-poll.done:
	case <-hold.C:
	case <-ctx.Done():
	}
}

// inFlight tracks a Trigger's deliveries per partition, in
// offset order, to know how far each partition can be committed.
type inFlight struct {
	topic string
	mu    sync.Mutex
	parts map[int32]*partitionFlight
}

type partitionFlight struct {
	pending []flight         // in offset order; the head is not done yet
	next    *kgo.EpochOffset // what to commit, if anything is new
}

type flight struct {
	offset int64
	epoch  int32
	done   bool
}

func newInFlight(topic string) *inFlight {
	return &inFlight{topic: topic, parts: map[int32]*partitionFlight{}}
}

// add tracks a polled record; done says it needs no delivery (this
// Trigger's filter drops it).
func (f *inFlight) add(rec *kgo.Record, done bool) {
	f.mu.Lock()
	defer f.mu.Unlock()
	p := f.parts[rec.Partition]
	if p == nil {
		p = &partitionFlight{}
		f.parts[rec.Partition] = p
	}
	if n := len(p.pending); n > 0 && rec.Offset <= p.pending[n-1].offset {
		// The partition was consumed again from its committed offset (it
		// was revoked and assigned back): what is in flight from before is
		// redelivered, so it no longer decides the commit point.
		p.pending, p.next = nil, nil
	}
	p.pending = append(p.pending, flight{offset: rec.Offset, epoch: rec.LeaderEpoch, done: done})
	p.advance()
}

func (f *inFlight) done(rec *kgo.Record) {
	f.mu.Lock()
	defer f.mu.Unlock()
	p := f.parts[rec.Partition]
	i, found := slices.BinarySearchFunc(p.pending, rec.Offset, func(fl flight, off int64) int { return cmp.Compare(fl.offset, off) })
	if found {
		p.pending[i].done = true
		p.advance()
	}
}

// advance moves the commit point past the finished records at the head.
func (p *partitionFlight) advance() {
	n := 0
	for n < len(p.pending) && p.pending[n].done {
		n++
	}
	if n > 0 {
		last := p.pending[n-1]
		p.next = &kgo.EpochOffset{Epoch: last.epoch, Offset: last.offset + 1}
		p.pending = p.pending[n:]
	}
}

func (f *inFlight) empty() bool {
	f.mu.Lock()
	defer f.mu.Unlock()
	for _, p := range f.parts {
		if len(p.pending) > 0 || p.next != nil {
			return false
		}
	}
	return true
}

// committable returns, and forgets, each partition's new commit point.
func (f *inFlight) committable() map[string]map[int32]kgo.EpochOffset {
	f.mu.Lock()
	defer f.mu.Unlock()
	var out map[string]map[int32]kgo.EpochOffset
	for part, p := range f.parts {
		if p.next == nil {
			continue
		}
		if out == nil {
			out = map[string]map[int32]kgo.EpochOffset{f.topic: {}}
		}
		out[f.topic][part] = *p.next
		p.next = nil
	}
	return out
}

// matches applies the Trigger's filter. Every Trigger sees every record of
// its Broker and most fail it, so it is checked on the record's headers as
// they are, before anything is copied or decoded.
func (d *dispatcher) matches(rec *kgo.Record) bool { return d.spec.PassesRecord(rec) }

// handle delivers a record that passed the filter, and reports whether it
// is settled (delivered, dead-lettered, or dropped as invalid) rather than
// cut short by ctx: only a settled record may be committed.
func (d *dispatcher) handle(ctx context.Context, rec *kgo.Record) bool {
	headers := make([]cekafka.Header, len(rec.Headers))
	for i, h := range rec.Headers {
		headers[i] = cekafka.Header{Key: h.Key, Value: h.Value}
	}
	e, err := cekafka.Decode(headers, rec.Value)
	if err != nil {
		d.em.log.Error("dropping record that is not a valid CloudEvent", "trigger", d.name,
			"partition", rec.Partition, "offset", rec.Offset, "error", err)
		d.em.metrics.deliveries.WithLabelValues(d.name, "invalid").Inc()
		return true
	}
	status, body, err := d.deliverWithRetry(ctx, e)
	if err == nil {
		return true
	}
	if ctx.Err() != nil {
		return false
	}
	d.deadLetter(ctx, e, status, body, err)
	return ctx.Err() == nil
}

// PassesRecord is Passes on a Kafka record in the Broker's topic, by its
// CloudEvent headers (binary mode), as the Kafka Broker's dispatcher
// filters before it decodes.
func (t TriggerSpec) PassesRecord(rec *kgo.Record) bool {
	return t.Passes(func(name string) (string, bool) { return recordAttribute(rec, name) })
}

// recordAttribute is cekafka.Attribute on a record's headers.
func recordAttribute(rec *kgo.Record, name string) (string, bool) {
	key := cekafka.AttributeHeader(name)
	for _, h := range rec.Headers {
		if strings.EqualFold(h.Key, key) {
			return string(h.Value), true
		}
	}
	return "", false
}

// deliverWithRetry posts e to the subscriber, retrying as Knative does:
// connection errors, 404, 408, 409, 429 and 5xx, with the Trigger's backoff.
func (d *dispatcher) deliverWithRetry(ctx context.Context, e event.Event) (int, []byte, error) {
	var (
		status int
		body   []byte
		err    error
	)
	for attempt := 0; ; attempt++ {
		status, body, err = d.deliverOnce(ctx, e)
		if err == nil {
			d.em.metrics.deliveries.WithLabelValues(d.name, "ok").Inc()
			return status, nil, nil
		}
		if ctx.Err() != nil {
			return status, body, err
		}
		if !retryable(status) || attempt >= d.spec.Delivery.Retry {
			d.em.metrics.deliveries.WithLabelValues(d.name, "failed").Inc()
			return status, body, err
		}
		d.em.metrics.deliveries.WithLabelValues(d.name, "retry").Inc()
		select {
		case <-time.After(d.spec.Delivery.backoff(attempt + 1)):
		case <-ctx.Done():
			return status, body, ctx.Err()
		}
	}
}

// retryable mirrors Knative Eventing's SelectiveRetry; status 0 means the
// request never got an answer.
func retryable(status int) bool {
	switch {
	case status == 0, status == 404, status == 408, status == 409, status == 429, status >= 500:
		return true
	}
	return false
}

func (d *dispatcher) deliverOnce(ctx context.Context, e event.Event) (int, []byte, error) {
	// The Trigger's timeout, and the revision's when it is a Service's:
	// one context, one timer.
	timeout := d.spec.Delivery.Timeout
	if d.rev != nil {
		timeout = min(timeout, d.rev.spec.Timeout)
	}
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	start := time.Now()
	defer func() { d.em.metrics.deliverySeconds.WithLabelValues(d.name).Observe(time.Since(start).Seconds()) }()

	url := d.subscriber
	if d.rev != nil {
		p, release, err := d.rev.acquire(ctx)
		if err != nil {
			return http.StatusServiceUnavailable, nil, fmt.Errorf("%s not available: %w", d.rev.spec.Name, err)
		}
		defer release()
		url = "http://" + p.addr
	}
	status, body, reply, err := postEvent(ctx, d.em.httpClient, url, e)
	if err != nil {
		return status, body, err
	}
	if reply != nil {
		if err := d.em.publish(ctx, d.topic, *reply); err != nil {
			// The subscriber did its work but its reply is lost: fail the
			// delivery so the retry (handlers are idempotent) reproduces it.
			return http.StatusBadGateway, nil, fmt.Errorf("publish reply %s: %w", reply.ID(), err)
		}
	}
	return status, nil, nil
}

// authorizeAs applies the EventPolicies of the KafkaSink named
// kind/namespace/name to e sent as this Trigger's identity: its dead
// letters, which Knative's Kafka dispatcher posts over HTTP with the
// Trigger's OIDC token. Its replies it produces to the Broker's topic
// directly, as its Kafka user, so no EventPolicy applies to them
// (eventing-kafka-broker's ResponseToKafkaTopicHandler), nor here.
func (d *dispatcher) authorizeAs(target string, e event.Event) error {
	if !d.em.cfg.OIDC {
		return nil
	}
	sub, err := triggerSubject(d.spec.Namespace, d.spec.Name)
	if err != nil {
		return err
	}
	return d.em.authorizers[target].Allow(sub, e)
}

// postEvent sends e in binary mode and returns the status, the body of a
// failed response, and the reply event of a successful one, if any.
func postEvent(ctx context.Context, client *http.Client, url string, e event.Event) (int, []byte, *event.Event, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, url, bytes.NewReader(e.Data()))
	if err != nil {
		return 0, nil, nil, err
	}
	// Sized for the headers below: filling an empty map grows it twice.
	req.Header = make(http.Header, 16)
	req.Header.Set("Prefer", "reply")
	if err := setBinaryHeaders(req.Header, e); err != nil {
		return 0, nil, nil, fmt.Errorf("encode event: %w", err)
	}
	resp, err := client.Do(req)
	if err != nil {
		return 0, nil, nil, err
	}
	defer resp.Body.Close()
	if resp.StatusCode < 200 || resp.StatusCode > 299 {
		body, _ := io.ReadAll(io.LimitReader(resp.Body, 1024))
		return resp.StatusCode, body, nil, fmt.Errorf("subscriber answered %s", resp.Status)
	}
	msg := cehttp.NewMessageFromHttpResponse(resp)
	if msg.ReadEncoding() == binding.EncodingUnknown {
		io.Copy(io.Discard, io.LimitReader(resp.Body, 1<<20))
		return resp.StatusCode, nil, nil, nil
	}
	reply, err := binding.ToEvent(ctx, msg)
	if err == nil {
		err = reply.Validate()
	}
	if err != nil {
		return http.StatusBadGateway, nil, nil, fmt.Errorf("subscriber replied with an invalid event: %w", err)
	}
	return resp.StatusCode, nil, reply, nil
}

// setBinaryHeaders puts e's attributes in h as the CloudEvents SDK's
// binary-mode HTTP writer does (TestBinaryHeadersAreTheSDKs), without its
// per-attribute validation by reflection: every delivery paid it again for
// an event already validated when it was read from Kafka.
func setBinaryHeaders(h http.Header, e event.Event) error {
	set := func(key, v string) {
		if v != "" {
			h[key] = []string{v}
		}
	}
	set("Ce-Specversion", e.SpecVersion())
	set("Ce-Id", e.ID())
	set("Ce-Source", e.Source())
	set("Ce-Type", e.Type())
	set("Ce-Subject", e.Subject())
	set("Ce-Dataschema", e.DataSchema())
	if t := e.Time(); !t.IsZero() {
		set("Ce-Time", t.UTC().Format(time.RFC3339Nano))
	}
	set("Content-Type", e.DataContentType())
	var exts map[string]any
	if v1, ok := e.Context.(*event.EventContextV1); ok {
		exts = v1.Extensions // only read: Extensions() would copy the map for every delivery
	} else {
		exts = e.Extensions()
	}
	for name, v := range exts {
		s, ok := v.(string)
		if !ok {
			var err error
			if s, err = types.Format(v); err != nil {
				return fmt.Errorf("extension %s: %w", name, err)
			}
		}
		if name != "" {
			h["Ce-"+strings.ToUpper(name[:1])+name[1:]] = []string{s}
		}
	}
	return nil
}

// deadLetter sends e to the Trigger's dead-letter sink with the extensions
// Knative adds, or logs the loss when there is none.
func (d *dispatcher) deadLetter(ctx context.Context, e event.Event, status int, body []byte, cause error) {
	dls := d.spec.Delivery.DeadLetter
	if dls == nil {
		d.em.log.Error("event dropped after retries: trigger has no dead-letter sink", "trigger", d.name,
			"ce_id", e.ID(), "ce_type", e.Type(), "error", cause)
		d.em.metrics.deadLettered.WithLabelValues(d.name, "dropped").Inc()
		return
	}
	e = e.Clone()
	e.SetExtension("knativeerrordest", d.subscriber)
	if status != 0 {
		e.SetExtension("knativeerrorcode", status)
	}
	if len(body) > 0 {
		e.SetExtension("knativeerrordata", base64.StdEncoding.EncodeToString(body))
	}
	var err error
	if dls.Kind == "KafkaSink" {
		err = d.authorizeAs("KafkaSink/"+dls.Namespace+"/"+dls.Name, e)
	}
	if err == nil {
		err = d.em.sendTo(ctx, *dls, e)
	}
	if err != nil {
		d.em.log.Error("dead-letter delivery failed; event dropped", "trigger", d.name, "ce_id", e.ID(),
			"sink", dls.String(), "error", err, "cause", cause)
		d.em.metrics.deadLettered.WithLabelValues(d.name, "failed").Inc()
		return
	}
	d.em.log.Warn("event dead-lettered", "trigger", d.name, "ce_id", e.ID(), "ce_type", e.Type(),
		"sink", dls.String(), "cause", cause)
	d.em.metrics.deadLettered.WithLabelValues(d.name, "ok").Inc()
}

// sendTo delivers e to a destination once: a KafkaSink is a produce, anything else a POST.
func (em *Emulator) sendTo(ctx context.Context, dest Destination, e event.Event) error {
	if dest.Kind == "KafkaSink" {
		topic, ok := em.sinks[dest.Namespace+"/"+dest.Name]
		if !ok {
			return fmt.Errorf("KafkaSink %s/%s not found", dest.Namespace, dest.Name)
		}
		return em.publish(ctx, topic, e)
	}
	url, err := em.resolve(dest)
	if err != nil {
		return err
	}
	_, body, _, err := postEvent(ctx, em.httpClient, url, e)
	if err != nil && len(body) > 0 {
		err = fmt.Errorf("%w: %s", err, bytes.TrimSpace(body))
	}
	return err
}

// publish produces e to topic in binary mode and waits for the ack.
func (em *Emulator) publish(ctx context.Context, topic string, e event.Event) error {
	key, headers, value, err := cekafka.Encode(e)
	if err != nil {
		return err
	}
	rec := &kgo.Record{Topic: topic, Key: key, Value: value, Headers: make([]kgo.RecordHeader, len(headers))}
	for i, h := range headers {
		rec.Headers[i] = kgo.RecordHeader{Key: h.Key, Value: h.Value}
	}
	return em.producer.ProduceSync(ctx, rec).FirstErr()
}

var errUnknownDestination = errors.New("unknown destination")
