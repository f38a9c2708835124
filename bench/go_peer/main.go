// go-peer: the comparison point of bench/ (never part of the product or its
// image). A gateway written in plain Go with what Debian packages (grpc-go
// 1.33, net/http): StopBatch does what batch-server does on its success path
// (a read of the batch, then the stop, two GETs with the key, one shared
// http.Client with a large idle pool) and nothing else: no retries, no
// breaker, no metrics, no logging. It takes batch-server's flags so bench can
// start either the same way (--listen, --upstream; the key in
// SERPWOW_API_KEY); the others are accepted and ignored.
//
// bench/run.sh builds it into build/go-peer/ (GOPATH mode, the Debian
// sources in /usr/share/gocode) and measures it beside batch-server.
package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log"
	"net"
	"net/http"
	"net/url"
	"os"
	"strings"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/health"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"
	"google.golang.org/grpc/status"

	pb "serpwow.local/pb"
)

type server struct {
	pb.UnimplementedBatchServiceServer
	client   *http.Client
	base     string
	keyQuery string
}

type envelope struct {
	RequestInfo struct {
		Success bool   `json:"success"`
		Message string `json:"message"`
	} `json:"request_info"`
	Batch struct {
		Status string `json:"status"`
	} `json:"batch"`
}

// get makes one upstream GET and decodes SerpWow's envelope.
func (s *server) get(ctx context.Context, path string) (*envelope, int, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, s.base+path+s.keyQuery, nil)
	if err != nil {
		return nil, 0, err
	}
	resp, err := s.client.Do(req)
	if err != nil {
		return nil, 0, err
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	if err != nil {
		return nil, resp.StatusCode, err
	}
	var e envelope
	if err := json.Unmarshal(body, &e); err != nil {
		return nil, resp.StatusCode, err
	}
	return &e, resp.StatusCode, nil
}

func (s *server) StopBatch(ctx context.Context, r *pb.StopBatchRequest) (*pb.StopBatchResponse, error) {
	id := r.GetBatchId()
	if id == "" {
		id = strings.TrimPrefix(r.GetName(), "batches/")
	}
	if id == "" || strings.ContainsAny(id, "/?#%") {
		return nil, status.Error(codes.InvalidArgument, "invalid batch id")
	}
	read, code, err := s.get(ctx, "/batches/"+id)
	if err != nil || code != http.StatusOK || !read.RequestInfo.Success {
		return nil, status.Error(codes.Unavailable, fmt.Sprintf("read failed (%d)", code))
	}
	stop, code, err := s.get(ctx, "/batches/"+id+"/stop")
	if err != nil || code != http.StatusOK || !stop.RequestInfo.Success {
		return nil, status.Error(codes.Unavailable, fmt.Sprintf("stop failed (%d)", code))
	}
	out := &pb.StopBatchResponse{BatchId: id, Message: stop.RequestInfo.Message,
		RefundBasis: pb.RefundBasis_REFUND_BASIS_PRE_READ}
	switch read.Batch.Status {
	case "queued":
		out.PreviousStatus = pb.BatchStatus_BATCH_STATUS_QUEUED
		out.CreditsRefunded = true
	case "running":
		out.PreviousStatus = pb.BatchStatus_BATCH_STATUS_RUNNING
	}
	return out, nil
}

func main() {
	// batch-server's flags: --listen and --upstream are used, every other one
	// is accepted and ignored, so that bench starts both the same way.
	listen, upstream := "127.0.0.1:50051", ""
	for _, arg := range os.Args[1:] {
		if strings.HasPrefix(arg, "--listen=") {
			listen = strings.TrimPrefix(arg, "--listen=")
		} else if strings.HasPrefix(arg, "--upstream=") {
			upstream = strings.TrimPrefix(arg, "--upstream=")
		}
	}
	key := os.Getenv("SERPWOW_API_KEY")
	if upstream == "" || key == "" {
		log.Fatal("go-peer needs --upstream and SERPWOW_API_KEY")
	}
	transport := &http.Transport{MaxIdleConns: 4096, MaxIdleConnsPerHost: 4096,
		IdleConnTimeout: 90 * time.Second}
	s := &server{client: &http.Client{Transport: transport, Timeout: 10 * time.Second},
		base: strings.TrimSuffix(upstream, "/"), keyQuery: "?api_key=" + url.QueryEscape(key)}
	lis, err := net.Listen("tcp", listen)
	if err != nil {
		log.Fatal(err)
	}
	g := grpc.NewServer()
	pb.RegisterBatchServiceServer(g, s)
	healthpb.RegisterHealthServer(g, health.NewServer())
	log.Fatal(g.Serve(lis))
}
