package main

import (
	"fmt"

	"google.golang.org/grpc/mem"
	"google.golang.org/protobuf/encoding/protowire"
)

// greet.v1's two messages written and read with protowire, so the program
// needs no protoc and no generated code (proto/greet/v1/greet.proto).
type greetRequest struct{ FirstName, LastName string }

type greetResponse struct{ Result, PodName, PodIP string }

// greetCodec encodes greetRequest and decodes greetResponse; it is forced on
// the Greet call only, so the xDS client's own ADS stream keeps the proto codec.
type greetCodec struct{}

func (greetCodec) Name() string { return "proto" }

func (greetCodec) Marshal(v any) (mem.BufferSlice, error) {
	request, ok := v.(*greetRequest)
	if !ok {
		return nil, fmt.Errorf("greetCodec cannot marshal %T", v)
	}
	var bytes []byte
	bytes = protowire.AppendTag(bytes, 1, protowire.BytesType)
	bytes = protowire.AppendString(bytes, request.FirstName)
	bytes = protowire.AppendTag(bytes, 2, protowire.BytesType)
	bytes = protowire.AppendString(bytes, request.LastName)
	return mem.BufferSlice{mem.SliceBuffer(bytes)}, nil
}

func (greetCodec) Unmarshal(data mem.BufferSlice, v any) error {
	response, ok := v.(*greetResponse)
	if !ok {
		return fmt.Errorf("greetCodec cannot unmarshal into %T", v)
	}
	bytes := data.Materialize()
	for len(bytes) > 0 {
		number, kind, n := protowire.ConsumeTag(bytes)
		if n < 0 {
			return protowire.ParseError(n)
		}
		bytes = bytes[n:]
		if kind != protowire.BytesType {
			n = protowire.ConsumeFieldValue(number, kind, bytes)
		} else {
			var value string
			value, n = protowire.ConsumeString(bytes)
			switch number {
			case 1:
				response.Result = value
			case 2:
				response.PodName = value
			case 3:
				response.PodIP = value
			}
		}
		if n < 0 {
			return protowire.ParseError(n)
		}
		bytes = bytes[n:]
	}
	return nil
}
