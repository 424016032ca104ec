// The reference for `make bench-lookaside`: a plain grpc-go unary handler of
// lookaside.v1.Lookaside/Resolve answering from an in-memory list of 3
// endpoints with round robin under a mutex, the work the Go lookaside this
// project replaces does per call, without its Kubernetes client.
//
// The messages are encoded by hand with protowire (no protoc in the build):
// a codec registered as "proto" decodes ResolveRequest's service, namespace
// and policy and encodes ResolveResponse, as generated code would.
package main

import (
	"context"
	"encoding/json"
	"fmt"
	"net"
	"os"
	"sync"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/encoding"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/encoding/protowire"
)

type resolveRequest struct {
	service, namespace string
	policy             uint64
}

type endpoint struct {
	address, ip, podName, zone string
	port                       uint64
}

type resolveResponse struct {
	endpoint endpoint
	ready    uint64
}

var endpoints = []endpoint{
	{"10.1.0.1:50051", "10.1.0.1", "greetserver-0", "bench-a", 50051},
	{"10.1.0.2:50051", "10.1.0.2", "greetserver-1", "bench-a", 50051},
	{"10.1.0.3:50051", "10.1.0.3", "greetserver-2", "bench-a", 50051},
}

type codec struct{}

func (codec) Name() string { return "proto" }

func (codec) Marshal(v any) ([]byte, error) {
	response, ok := v.(*resolveResponse)
	if !ok {
		return nil, fmt.Errorf("cannot encode %T", v)
	}
	e := response.endpoint
	b := make([]byte, 0, 64)
	b = appendString(b, 1, e.address)
	b = appendString(b, 2, e.ip)
	b = protowire.AppendTag(b, 3, protowire.VarintType)
	b = protowire.AppendVarint(b, e.port)
	b = appendString(b, 4, e.podName)
	b = appendString(b, 5, e.zone)
	b = protowire.AppendTag(b, 7, protowire.VarintType)
	return protowire.AppendVarint(b, response.ready), nil
}

func appendString(b []byte, field protowire.Number, value string) []byte {
	if value == "" {
		return b
	}
	return protowire.AppendString(protowire.AppendTag(b, field, protowire.BytesType), value)
}

func (codec) Unmarshal(data []byte, v any) error {
	request, ok := v.(*resolveRequest)
	if !ok {
		return fmt.Errorf("cannot decode into %T", v)
	}
	for len(data) > 0 {
		field, kind, n := protowire.ConsumeTag(data)
		if n < 0 {
			return protowire.ParseError(n)
		}
		data = data[n:]
		switch {
		case field == 1 && kind == protowire.BytesType:
			request.service, n = protowire.ConsumeString(data)
		case field == 2 && kind == protowire.BytesType:
			request.namespace, n = protowire.ConsumeString(data)
		case field == 3 && kind == protowire.VarintType:
			request.policy, n = protowire.ConsumeVarint(data)
		default:
			n = protowire.ConsumeFieldValue(field, kind, data)
		}
		if n < 0 {
			return protowire.ParseError(n)
		}
		data = data[n:]
	}
	return nil
}

type roundRobin struct {
	mu   sync.Mutex
	next int
}

func (r *roundRobin) resolve(_ any, ctx context.Context, decode func(any) error, _ grpc.UnaryServerInterceptor) (any, error) {
	request := new(resolveRequest)
	if err := decode(request); err != nil {
		return nil, err
	}
	if request.service != "greetserver" {
		return nil, status.Errorf(codes.NotFound, "no Service %s/%s", request.namespace, request.service)
	}
	r.mu.Lock()
	picked := endpoints[r.next]
	r.next = (r.next + 1) % len(endpoints)
	r.mu.Unlock()
	return &resolveResponse{endpoint: picked, ready: uint64(len(endpoints))}, nil
}

func main() {
	encoding.RegisterCodec(codec{})
	listener, err := net.Listen("tcp", net.JoinHostPort(os.Getenv("LB_HOST"), os.Getenv("LB_PORT")))
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	server := grpc.NewServer()
	server.RegisterService(&grpc.ServiceDesc{
		ServiceName: "lookaside.v1.Lookaside",
		HandlerType: (*any)(nil),
		Methods:     []grpc.MethodDesc{{MethodName: "Resolve", Handler: (&roundRobin{}).resolve}},
	}, struct{}{})
	line, _ := json.Marshal(map[string]any{"msg": "listening", "port": listener.Addr().(*net.TCPAddr).Port})
	fmt.Println(string(line))
	if err := server.Serve(listener); err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
}
