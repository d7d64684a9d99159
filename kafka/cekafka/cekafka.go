// Package cekafka maps CloudEvents to Kafka records in binary content mode,
// as the Knative Kafka Broker stores them: every attribute is a `ce_<name>`
// header, datacontenttype is the `content-type` header, the data is the value,
// and the key is the `partitionkey` extension so one key stays on one partition.
//
// It is client-neutral (plain header slices) so the connector's
// confluent-kafka-go producer and the emulator's franz-go consumers share it.
package cekafka

import (
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/cloudevents/sdk-go/v2/event"
)

// Header is one Kafka record header.
type Header struct {
	Key   string
	Value []byte
}

const (
	headerPrefix      = "ce_"
	contentTypeHeader = "content-type"
	// PartitionKey is the extension whose value becomes the record key.
	PartitionKey = "partitionkey"
)

// Encode validates e and returns the record key, headers and value for it.
func Encode(e event.Event) (key []byte, headers []Header, value []byte, err error) {
	if err := e.Validate(); err != nil {
		return nil, nil, nil, fmt.Errorf("cekafka: invalid event: %w", err)
	}
	headers = make([]Header, 0, 8)
	add := func(name, v string) {
		if v != "" {
			headers = append(headers, Header{Key: headerPrefix + name, Value: []byte(v)})
		}
	}
	add("specversion", e.SpecVersion())
	add("id", e.ID())
	add("source", e.Source())
	add("type", e.Type())
	add("subject", e.Subject())
	add("dataschema", e.DataSchema())
	if t := e.Time(); !t.IsZero() {
		add("time", t.UTC().Format(time.RFC3339Nano))
	}
	for name, v := range e.Extensions() {
		s, err := extensionString(v)
		if err != nil {
			return nil, nil, nil, fmt.Errorf("cekafka: extension %s: %w", name, err)
		}
		add(name, s)
		if name == PartitionKey {
			key = []byte(s)
		}
	}
	if ct := e.DataContentType(); ct != "" {
		headers = append(headers, Header{Key: contentTypeHeader, Value: []byte(ct)})
	}
	return key, headers, e.Data(), nil
}

// Decode rebuilds the event carried by a record's headers and value.
func Decode(headers []Header, value []byte) (event.Event, error) {
	e := event.New()
	var sawSpec bool
	for _, h := range headers {
		if strings.EqualFold(h.Key, contentTypeHeader) {
			e.SetDataContentType(string(h.Value))
			continue
		}
		name, ok := cutPrefixFold(h.Key, headerPrefix)
		if !ok {
			continue
		}
		v := string(h.Value)
		switch name = strings.ToLower(name); name {
		case "specversion":
			if v != event.CloudEventsVersionV1 {
				return e, fmt.Errorf("cekafka: unsupported specversion %q", v)
			}
			sawSpec = true
		case "id":
			e.SetID(v)
		case "source":
			e.SetSource(v)
		case "type":
			e.SetType(v)
		case "subject":
			e.SetSubject(v)
		case "dataschema":
			e.SetDataSchema(v)
		case "time":
			t, err := time.Parse(time.RFC3339Nano, v)
			if err != nil {
				return e, fmt.Errorf("cekafka: ce_time %q: %w", v, err)
			}
			e.SetTime(t)
		default:
			// An invalid name is recorded on the event and fails Validate below.
			e.SetExtension(name, v)
		}
	}
	if !sawSpec {
		return e, errors.New("cekafka: record has no ce_specversion header (not a binary-mode CloudEvent)")
	}
	if len(value) > 0 {
		e.DataEncoded = value
	}
	if err := e.Validate(); err != nil {
		return e, fmt.Errorf("cekafka: invalid event: %w", err)
	}
	return e, nil
}

// AttributeHeader is the Kafka header that carries a CloudEvent attribute
// in binary mode: a Broker filters records on it without decoding them.
func AttributeHeader(name string) string {
	if name == "datacontenttype" {
		return contentTypeHeader
	}
	return headerPrefix + name
}

func extensionString(v any) (string, error) {
	switch x := v.(type) {
	case string:
		return x, nil
	case time.Time:
		return x.UTC().Format(time.RFC3339Nano), nil
	case fmt.Stringer:
		return x.String(), nil
	case int32, bool:
		return fmt.Sprint(x), nil
	case []byte:
		return string(x), nil
	}
	return "", fmt.Errorf("unsupported type %T", v)
}

func cutPrefixFold(s, prefix string) (string, bool) {
	if len(s) < len(prefix) || !strings.EqualFold(s[:len(prefix)], prefix) {
		return "", false
	}
	return s[len(prefix):], true
}
