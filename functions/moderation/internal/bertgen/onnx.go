package bertgen

import (
	"encoding/binary"
	"math"

	"google.golang.org/protobuf/encoding/protowire"
)

// A minimal ONNX protobuf writer: just the messages and fields a BERT
// graph needs (onnx.proto field numbers). Writing the wire format directly
// avoids importing a generated onnx package, which would clash with the
// one inside the inference libraries.

const (
	tensorFloat = 1
	tensorInt64 = 7

	attrFloat = 1
	attrInt   = 2
	attrInts  = 7
)

type node struct {
	op      string
	inputs  []string
	outputs []string
	attrs   []attr
}

type attr struct {
	name string
	typ  int
	f    float32
	i    int64
	ints []int64
}

type tensor struct {
	name   string
	dims   []int64
	floats []float32
	ints   []int64
}

func appendString(b []byte, field protowire.Number, s string) []byte {
	b = protowire.AppendTag(b, field, protowire.BytesType)
	return protowire.AppendString(b, s)
}

func appendMessage(b []byte, field protowire.Number, msg []byte) []byte {
	b = protowire.AppendTag(b, field, protowire.BytesType)
	return protowire.AppendBytes(b, msg)
}

func appendVarint(b []byte, field protowire.Number, v uint64) []byte {
	b = protowire.AppendTag(b, field, protowire.VarintType)
	return protowire.AppendVarint(b, v)
}

func (a attr) encode() []byte {
	var b []byte
	b = appendString(b, 1, a.name)
	switch a.typ {
	case attrFloat:
		b = protowire.AppendTag(b, 2, protowire.Fixed32Type)
		b = protowire.AppendFixed32(b, math.Float32bits(a.f))
	case attrInt:
		b = appendVarint(b, 3, uint64(a.i))
	case attrInts:
		for _, v := range a.ints {
			b = appendVarint(b, 8, uint64(v))
		}
	}
	return appendVarint(b, 20, uint64(a.typ))
}

func (n node) encode(name string) []byte {
	var b []byte
	for _, in := range n.inputs {
		b = appendString(b, 1, in)
	}
	for _, out := range n.outputs {
		b = appendString(b, 2, out)
	}
	b = appendString(b, 3, name)
	b = appendString(b, 4, n.op)
	for _, a := range n.attrs {
		b = appendMessage(b, 5, a.encode())
	}
	return b
}

func (t tensor) encode() []byte {
	var b []byte
	for _, d := range t.dims {
		b = appendVarint(b, 1, uint64(d))
	}
	if t.ints != nil {
		b = appendVarint(b, 2, tensorInt64)
		b = appendString(b, 8, t.name)
		raw := make([]byte, 8*len(t.ints))
		for i, v := range t.ints {
			binary.LittleEndian.PutUint64(raw[8*i:], uint64(v))
		}
		return appendMessage(b, 9, raw)
	}
	b = appendVarint(b, 2, tensorFloat)
	b = appendString(b, 8, t.name)
	raw := make([]byte, 4*len(t.floats))
	for i, v := range t.floats {
		binary.LittleEndian.PutUint32(raw[4*i:], math.Float32bits(v))
	}
	return appendMessage(b, 9, raw)
}

// valueInfo describes a graph input or output; a dim < 0 is symbolic.
func valueInfo(name string, elem int, dims []int64, symbols []string) []byte {
	var shape []byte
	for i, d := range dims {
		var dim []byte
		if d < 0 {
			dim = appendString(dim, 2, symbols[i])
		} else {
			dim = appendVarint(dim, 1, uint64(d))
		}
		shape = appendMessage(shape, 1, dim)
	}
	var tt []byte
	tt = appendVarint(tt, 1, uint64(elem))
	tt = appendMessage(tt, 2, shape)
	var typ []byte
	typ = appendMessage(typ, 1, tt)
	var b []byte
	b = appendString(b, 1, name)
	return appendMessage(b, 2, typ)
}

func encodeModel(nodes []node, inits []tensor, inputs, outputs [][]byte) []byte {
	var g []byte
	for i, n := range nodes {
		g = appendMessage(g, 1, n.encode(n.op+"_"+itoa(i)))
	}
	g = appendString(g, 2, "bert")
	for _, t := range inits {
		g = appendMessage(g, 5, t.encode())
	}
	for _, in := range inputs {
		g = appendMessage(g, 11, in)
	}
	for _, out := range outputs {
		g = appendMessage(g, 12, out)
	}
	var opset []byte
	opset = appendString(opset, 1, "")
	opset = appendVarint(opset, 2, 17)
	var m []byte
	m = appendVarint(m, 1, 8) // IR version 8
	m = appendString(m, 2, "parley-bertgen")
	m = appendMessage(m, 7, g)
	return appendMessage(m, 8, opset)
}

func itoa(i int) string {
	if i == 0 {
		return "0"
	}
	var d []byte
	for ; i > 0; i /= 10 {
		d = append([]byte{byte('0' + i%10)}, d...)
	}
	return string(d)
}
