// pulumi-language-nodejs: our own shim in front of the upstream Node.js language host v3.68.0.
//
// Why: the Go module proxy refuses every version of the current host's module
// (github.com/pulumi/pulumi/sdk/nodejs/cmd/pulumi-language-nodejs/v3, 403), and the newest host it
// serves (inside sdk/v3@v3.68.0) cannot start policy packs: the engine (3.248 and 3.277 alike) starts
// a Node.js policy pack through the language host's RunPlugin RPC (kind "analyzer"), which v3.68.0
// answers with "not supported". See README.md.
//
// What: we serve the LanguageRuntime gRPC service on 127.0.0.1, start the upstream host
// (pulumi-language-nodejs-v3.68.0, next to this executable, same arguments) and forward every RPC to it
// byte for byte, unary and streaming, including its errors (Unimplemented for RPCs it does not know, so
// the engine falls back as it does for any old host). The one exception is RunPlugin with
// kind == "analyzer", which we implement like the current host does: `node
// <@pulumi/pulumi/cmd/run-policy-pack> <nodeargs> <req.Args> <pack dir>` in the pack directory, behind
// sdk/v3's PolicyProxy (it answers the engine's Handshake/ConfigureStack and hands the stack, project,
// config to the pack in PULUMI_NODEJS_* / PULUMI_CONFIG, as the pack libraries expect).
package main

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"runtime"
	"runtime/debug"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/google/shlex"
	sdk "github.com/pulumi/pulumi/sdk/v3"
	"github.com/pulumi/pulumi/sdk/v3/go/common/apitype"
	"github.com/pulumi/pulumi/sdk/v3/go/common/util/rpcutil"
	pulumirpc "github.com/pulumi/pulumi/sdk/v3/proto/go"
	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/metadata"
	"google.golang.org/protobuf/proto"
)

// The upstream host we front, built by test/engines/pulumi-language-nodejs-v3.68.0.
const legacyName = "pulumi-language-nodejs-v3.68.0"

const maxMsg = 400 << 20 // as rpcutil's servers and clients

func main() {
	args := os.Args[1:]
	for _, a := range args {
		if a == "-version" || a == "--version" {
			fmt.Printf("3.68.0+shim (programs: %s; policy packs: this shim on sdk/v3 %s)\n", legacyName, sdkVersion())
			return
		}
	}
	// Like every plugin, the engine address is the last positional argument.
	engineAddress := ""
	if n := len(args); n > 0 && !strings.HasPrefix(args[n-1], "-") {
		engineAddress = args[n-1]
	}

	self, err := os.Executable()
	if err == nil {
		self, err = filepath.EvalSymlinks(self)
	}
	fail(err)
	child, childPort := startLegacy(filepath.Join(filepath.Dir(self), legacyName), args)
	// The engine stops plugins with SIGINT to their process group (the child is in ours), then SIGKILL:
	// on SIGINT/SIGTERM we take the child with us and exit quietly, as a host does. SIGKILL of the shim
	// is covered by Pdeathsig (startLegacy).
	signals := make(chan os.Signal, 1)
	signal.Notify(signals, syscall.SIGINT, syscall.SIGTERM)
	go func() { <-signals; _ = child.Process.Kill(); os.Exit(0) }()

	s := &shim{legacy: dialLegacy(childPort), starts: make(chan legacyStart), byFlags: map[string]*grpc.ClientConn{}}

	// Only RunPlugin is registered as a method of ours; every other LanguageRuntime method (and any other
	// service) is unknown to this server and reaches s.forward.
	desc := pulumirpc.LanguageRuntime_ServiceDesc
	desc.Methods = nil
	desc.Streams = nil
	for _, st := range pulumirpc.LanguageRuntime_ServiceDesc.Streams {
		if st.StreamName == "RunPlugin" {
			desc.Streams = append(desc.Streams, st)
		}
	}
	cancel := make(chan bool)
	handle, err := rpcutil.ServeWithOptions(rpcutil.ServeOptions{
		Cancel:  cancel,
		Init:    func(srv *grpc.Server) error { srv.RegisterService(&desc, s); return nil },
		Options: []grpc.ServerOption{grpc.ForceServerCodec(codec{}), grpc.UnknownServiceHandler(s.forward), grpc.MaxSendMsgSize(maxMsg)},
	})
	fail(err)
	// Stop serving when the engine goes away, as the upstream hosts do.
	if engineAddress != "" {
		ctx, done := context.WithCancel(context.Background())
		fail(rpcutil.Healthcheck(ctx, engineAddress, 5*time.Minute, done))
		go func() { <-ctx.Done(); close(cancel) }()
	}
	fmt.Printf("%d\n", handle.Port)

	exited := make(chan error, 1)
	go func() { exited <- child.Wait() }()
	for err == nil {
		select {
		case start := <-s.starts:
			// Started from this goroutine, like the first one (Pdeathsig, see startLegacy); it ends with
			// the engine's SIGINT to our group, or with us.
			_, port := startLegacy(filepath.Join(filepath.Dir(self), legacyName), append(start.flags, args...))
			start.reply <- dialLegacy(port)
		case err = <-handle.Done:
			_ = child.Process.Kill()
			fail(err)
			return
		case err = <-exited:
			// Killed by the same SIGINT/SIGTERM the engine sent our group: a normal stop, not an error.
			if ws, ok := child.ProcessState.Sys().(syscall.WaitStatus); ok && ws.Signaled() &&
				(ws.Signal() == syscall.SIGINT || ws.Signal() == syscall.SIGTERM) {
				os.Exit(0)
			}
			err = fmt.Errorf("%s exited unexpectedly (%v)", legacyName, err)
		}
	}
	fail(err)
}

func dialLegacy(port string) *grpc.ClientConn {
	conn, err := grpc.NewClient("127.0.0.1:"+port,
		grpc.WithTransportCredentials(insecure.NewCredentials()),
		grpc.WithDefaultCallOptions(grpc.ForceCodec(codec{}), grpc.MaxCallRecvMsgSize(maxMsg), grpc.MaxCallSendMsgSize(maxMsg)))
	fail(err)
	return conn
}

// startLegacy starts the upstream host with our arguments, reads its port from the first line of its
// stdout, and passes the rest of its stdout and its stderr through (the engine logs them).
func startLegacy(path string, args []string) (*exec.Cmd, string) {
	// Pdeathsig fires when the thread that forked the child exits: pin this goroutine (main, which lives
	// as long as the process) to its thread for good.
	runtime.LockOSThread()
	cmd := exec.Command(path, args...)
	cmd.Stderr = os.Stderr
	setPdeathsig(cmd)
	out, err := cmd.StdoutPipe()
	fail(err)
	fail(cmd.Start())
	r := bufio.NewReader(out)
	line, err := r.ReadString('\n')
	port := strings.TrimSpace(line)
	if _, perr := strconv.Atoi(port); err != nil || perr != nil {
		_ = cmd.Process.Kill()
		fail(fmt.Errorf("%s did not print its port (%q): %v", path, line, err))
	}
	go func() { _, _ = io.Copy(os.Stdout, r) }()
	return cmd, port
}

type shim struct {
	pulumirpc.UnimplementedLanguageRuntimeServer // never reached: only RunPlugin is registered
	legacy                                       *grpc.ClientConn

	// Upstream hosts started for Run with the project's runtime options as flags (runFlags), one per
	// set of flags; started by main's goroutine, which serves `starts`.
	starts  chan legacyStart
	mu      sync.Mutex
	byFlags map[string]*grpc.ClientConn
}

type legacyStart struct {
	flags []string
	reply chan *grpc.ClientConn
}

// nodeOptions are Pulumi.yaml's runtime options for Node.js, as current hosts read them from a
// request's ProgramInfo (for a program's Run and a policy pack's RunPlugin alike).
type nodeOptions struct {
	typescript         bool // default true
	nodeargs, tsconfig string
}

func readNodeOptions(info *pulumirpc.ProgramInfo) nodeOptions {
	opts := info.GetOptions().AsMap()
	o := nodeOptions{typescript: true}
	if typescript, ok := opts["typescript"].(bool); ok {
		o.typescript = typescript
	}
	o.nodeargs, _ = opts["nodeargs"].(string)
	o.tsconfig, _ = opts["tsconfig"].(string)
	return o
}

// runFlags are a Run's runtime options as the v3.68.0 host's command-line flags (its defaults left
// out). The engine passes no flags (buildArgsForNewPlugin, 3.248 and 3.277), so v3.68.0 alone would run every
// program with its defaults (ts-node registered, no node arguments), unlike the host a user has.
func runFlags(o nodeOptions) []string {
	var flags []string
	if !o.typescript {
		flags = append(flags, "-typescript=false")
	}
	if o.nodeargs != "" {
		flags = append(flags, "-nodeargs="+o.nodeargs)
	}
	if o.tsconfig != "" {
		flags = append(flags, "-tsconfig="+o.tsconfig)
	}
	return flags
}

// legacyFor is the upstream host that runs a program with these flags: the first one when there are
// none, else one started for them (and kept for later Runs with the same flags).
func (s *shim) legacyFor(flags []string) *grpc.ClientConn {
	if len(flags) == 0 {
		return s.legacy
	}
	key := strings.Join(flags, "\x00")
	s.mu.Lock()
	defer s.mu.Unlock()
	if conn, ok := s.byFlags[key]; ok {
		return conn
	}
	reply := make(chan *grpc.ClientConn)
	s.starts <- legacyStart{flags: flags, reply: reply}
	conn := <-reply
	s.byFlags[key] = conn
	return conn
}

// forward relays one call of any method to the upstream host unchanged: request frames, response
// frames, headers, trailers and the final status. A Run goes to the host started with its runtime
// options (runFlags); its request is read first for them, and relayed unchanged too.
func (s *shim) forward(_ any, in grpc.ServerStream) error {
	method, _ := grpc.MethodFromServerStream(in)
	legacy := s.legacy
	var request *frame
	if method == pulumirpc.LanguageRuntime_Run_FullMethodName {
		request = new(frame)
		if err := in.RecvMsg(request); err != nil {
			return err
		}
		var run pulumirpc.RunRequest
		if err := proto.Unmarshal(*request, &run); err != nil {
			return err
		}
		legacy = s.legacyFor(runFlags(readNodeOptions(run.GetInfo())))
	}
	ctx, cancel := context.WithCancel(outgoing(in.Context()))
	defer cancel()
	out, err := legacy.NewStream(ctx, &grpc.StreamDesc{ClientStreams: true, ServerStreams: true}, method)
	if err != nil {
		return err
	}
	go func() {
		if request != nil && out.SendMsg(request) != nil {
			_ = out.CloseSend()
			return
		}
		for {
			f := new(frame)
			if in.RecvMsg(f) != nil || out.SendMsg(f) != nil {
				_ = out.CloseSend() // EOF from the engine (or an error: then ctx is cancelled anyway)
				return
			}
		}
	}()
	for first := true; ; first = false {
		f := new(frame)
		if err := out.RecvMsg(f); err != nil {
			in.SetTrailer(out.Trailer())
			if err == io.EOF {
				return nil
			}
			return err // the upstream status, code and message as they are
		}
		if first {
			if h, err := out.Header(); err == nil {
				_ = in.SendHeader(h)
			}
		}
		if err := in.SendMsg(f); err != nil {
			return err
		}
	}
}

func (s *shim) RunPlugin(req *pulumirpc.RunPluginRequest, srv pulumirpc.LanguageRuntime_RunPluginServer) error {
	if req.Kind != string(apitype.AnalyzerPlugin) {
		// Not a policy pack: the upstream host's answer, whatever it is.
		stream, err := pulumirpc.NewLanguageRuntimeClient(s.legacy).RunPlugin(outgoing(srv.Context()), req)
		if err != nil {
			return err
		}
		for {
			msg, err := stream.Recv()
			if err == io.EOF {
				return nil
			} else if err != nil {
				return err
			}
			if err := srv.Send(msg); err != nil {
				return err
			}
		}
	}
	return runPolicyPack(req, srv)
}

// runPolicyPack starts a Node.js policy pack the way the current host does (behaviour read from
// sdk/nodejs/cmd/pulumi-language-nodejs/main.go at v3.248.0 and v3.259.0, RunPlugin, kind "analyzer",
// the same in both; the abort on a failed start from pulumi/pulumi#24492, later).
func runPolicyPack(req *pulumirpc.RunPluginRequest, srv pulumirpc.LanguageRuntime_RunPluginServer) error {
	ctx := srv.Context()
	dir := req.GetInfo().GetProgramDirectory() // the directory of PulumiPolicy.yaml
	node, err := exec.LookPath("node")
	if err != nil {
		return err
	}
	opts := readNodeOptions(req.GetInfo())
	env := req.Env
	if opts.typescript {
		env = append(env, "PULUMI_NODEJS_TYPESCRIPT=true")
	}
	if opts.tsconfig != "" {
		env = append(env, "PULUMI_NODEJS_TSCONFIG_PATH="+opts.tsconfig)
	}
	extra, err := shlex.Split(opts.nodeargs)
	if err != nil {
		return err
	}

	// The pack's own @pulumi/pulumi, resolved by node from the pack directory.
	resolve := exec.Command(node, "-e", `try { console.log(require.resolve("@pulumi/pulumi/cmd/run-policy-pack")) } catch (e) {`+
		` console.error(e.code === "MODULE_NOT_FOUND" ? "It looks like the Pulumi SDK has not been installed. Have you run npm install in `+
		strings.ReplaceAll(dir, `\`, `\\`)+`?" : e.message); process.exit(1) }`)
	resolve.Dir = dir
	resolved, err := resolve.Output()
	if err != nil {
		if ee, ok := err.(*exec.ExitError); ok {
			return fmt.Errorf("%s", strings.TrimSpace(string(ee.Stderr)))
		}
		return err
	}

	w := &sender{srv: srv}
	// The PolicyProxy prints its own port as the plugin's first stdout line, takes the engine's
	// Handshake and ConfigureStack, then relays the Analyzer RPCs to the pack once it is up.
	policyProxy, stdout, err := sdk.NewPolicyProxy(ctx, w.stream(false))
	if err != nil {
		return fmt.Errorf("could not start policy pack proxy: %w", err)
	}
	// Once the proxy has printed its port the engine counts the pack as started: a failure from here on
	// until Attach must also reject the proxy's pending pack (Abort), or the engine's next Analyzer call
	// waits for a pack that never comes (as upstream hosts do since pulumi/pulumi#24492, 2026-08).
	abort := func(err error) error {
		policyProxy.Abort(err)
		return err
	}
	cfg, err := policyProxy.AwaitConfiguration(ctx)
	if err != nil {
		return abort(fmt.Errorf("could not get stack configuration: %w", err))
	}
	if cfg != nil {
		set := func(k, v string) {
			if v != "" {
				env = append(env, k+"="+v)
			}
		}
		set("PULUMI_NODEJS_ORGANIZATION", cfg.Organization)
		set("PULUMI_NODEJS_PROJECT", cfg.Project)
		set("PULUMI_NODEJS_STACK", cfg.Stack)
		set("PULUMI_NODEJS_DRY_RUN", strconv.FormatBool(cfg.DryRun))
		if cfg.Config != nil {
			js, err := json.Marshal(cfg.Config)
			if err != nil {
				return abort(err)
			}
			set("PULUMI_CONFIG", string(js))
		}
	}

	// node <run-policy-pack> <nodeargs> <engine address> <pack dir>, in the pack directory (as policy
	// packs have always run).
	argv := append(append([]string{strings.TrimSpace(string(resolved))}, extra...), req.Args...)
	cmd := exec.CommandContext(ctx, node, append(argv, dir)...)
	cmd.Dir, cmd.Env = dir, env
	cmd.Stdout, cmd.Stderr = stdout, w.stream(true)
	if err := cmd.Start(); err != nil {
		return abort(fmt.Errorf("could not run %s: %w", node, err))
	}
	err = policyProxy.Attach(ctx, cmd) // returns when the pack exits; rejects the pending pack itself if it fails
	code := 0
	if ee, ok := err.(*exec.ExitError); ok {
		code = ee.ExitCode()
	} else if err != nil {
		return err
	}
	return srv.Send(&pulumirpc.RunPluginResponse{Output: &pulumirpc.RunPluginResponse_Exitcode{Exitcode: int32(code)}})
}

// sender turns writes into RunPluginResponse stdout/stderr messages (one Send at a time: gRPC
// streams are not safe for concurrent sends).
type sender struct {
	mu  sync.Mutex
	srv pulumirpc.LanguageRuntime_RunPluginServer
}

type senderStream struct {
	s      *sender
	stderr bool
}

func (s *sender) stream(stderr bool) io.Writer { return senderStream{s, stderr} }

func (w senderStream) Write(p []byte) (int, error) {
	msg := &pulumirpc.RunPluginResponse{Output: &pulumirpc.RunPluginResponse_Stdout{Stdout: p}}
	if w.stderr {
		msg = &pulumirpc.RunPluginResponse{Output: &pulumirpc.RunPluginResponse_Stderr{Stderr: p}}
	}
	w.s.mu.Lock()
	defer w.s.mu.Unlock()
	if err := w.s.srv.Send(msg); err != nil {
		return 0, err
	}
	return len(p), nil
}

// frame is a message we relay without decoding; codec passes frames through as bytes and
// (un)marshals everything else (our RunPlugin, health, reflection) as protobuf.
type frame []byte

type codec struct{}

func (codec) Name() string { return "proto" }

func (codec) Marshal(v any) ([]byte, error) {
	if f, ok := v.(*frame); ok {
		return *f, nil
	}
	return proto.Marshal(v.(proto.Message))
}

func (codec) Unmarshal(data []byte, v any) error {
	if f, ok := v.(*frame); ok {
		*f = append((*f)[:0], data...)
		return nil
	}
	return proto.Unmarshal(data, v.(proto.Message))
}

// outgoing carries the engine's request metadata (tracing etc.) on to the upstream host.
func outgoing(ctx context.Context) context.Context {
	md, _ := metadata.FromIncomingContext(ctx)
	return metadata.NewOutgoingContext(ctx, md.Copy())
}

func sdkVersion() string {
	if info, ok := debug.ReadBuildInfo(); ok {
		for _, dep := range info.Deps {
			if dep.Path == "github.com/pulumi/pulumi/sdk/v3" {
				return dep.Version
			}
		}
	}
	return "?"
}

func fail(err error) {
	if err != nil {
		fmt.Fprintf(os.Stderr, "pulumi-language-nodejs (shim): %v\n", err)
		os.Exit(1)
	}
}
