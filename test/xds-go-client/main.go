// Command xds-go-client is grpc-go's stock xDS client calling greet.v1.GreetService
// through the lookaside, for the interop test (test/e2e/xds-go.test.ts): the
// lookaside is its xDS control plane, named by the standard bootstrap
// (GRPC_XDS_BOOTSTRAP or GRPC_XDS_BOOTSTRAP_CONFIG), and grpc-go balances
// every call itself.
//
// Usage: xds-go-client xds:///greetserver.default.svc.cluster.local:50051
//
// Each stdin line {"calls": N, "deadlineMs": D} makes N Greet calls one after
// another and prints one JSON line: answers per pod and errors per message.
// With -calls N it makes N calls, prints that line and exits instead.
package main

import (
	"bufio"
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"os"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"
	_ "google.golang.org/grpc/xds" // registers the xds:/// resolver and balancers
)

type command struct {
	Calls      int `json:"calls"`
	DeadlineMs int `json:"deadlineMs"`
}

type counts struct {
	Pods   map[string]int `json:"pods"`
	Errors map[string]int `json:"errors"`
}

func main() {
	calls := flag.Int("calls", 0, "make this many calls, print the counts and exit (0: read commands from stdin)")
	flag.Parse()
	if flag.NArg() != 1 {
		fmt.Fprintln(os.Stderr, "usage: xds-go-client [-calls N] xds:///<service>.<namespace>.svc.cluster.local:<port>")
		os.Exit(2)
	}
	conn, err := grpc.NewClient(flag.Arg(0), grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		fmt.Fprintln(os.Stderr, "xds-go-client:", err)
		os.Exit(1)
	}
	defer conn.Close()

	out := json.NewEncoder(os.Stdout)
	if *calls > 0 {
		_ = out.Encode(greetMany(conn, *calls, 5*time.Second))
		return
	}
	_ = out.Encode(map[string]string{"msg": "ready", "target": flag.Arg(0)})
	lines := bufio.NewScanner(os.Stdin)
	for lines.Scan() {
		var next command
		if err := json.Unmarshal(lines.Bytes(), &next); err != nil {
			fmt.Fprintln(os.Stderr, "xds-go-client: bad command:", err)
			os.Exit(2)
		}
		deadline := 5 * time.Second
		if next.DeadlineMs > 0 {
			deadline = time.Duration(next.DeadlineMs) * time.Millisecond
		}
		_ = out.Encode(greetMany(conn, next.Calls, deadline))
	}
}

// greetMany makes n Greet calls one after another and counts who answered.
func greetMany(conn *grpc.ClientConn, n int, deadline time.Duration) counts {
	result := counts{Pods: map[string]int{}, Errors: map[string]int{}}
	for i := 0; i < n; i++ {
		pod, err := greet(conn, deadline)
		if err != nil {
			result.Errors[err.Error()]++
		} else {
			result.Pods[pod]++
		}
	}
	return result
}

// greet makes one call and returns the pod_name of the answer.
func greet(conn *grpc.ClientConn, deadline time.Duration) (string, error) {
	ctx, cancel := context.WithTimeout(context.Background(), deadline)
	defer cancel()
	reply := &greetResponse{}
	err := conn.Invoke(ctx, "/greet.v1.GreetService/Greet", &greetRequest{FirstName: "Ada", LastName: "Lovelace"}, reply,
		grpc.ForceCodecV2(greetCodec{}))
	return reply.PodName, err
}
