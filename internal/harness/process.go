package harness

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"net"
	"net/http"
	"os"
	"os/exec"
	"os/signal"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"
)

// cleanups are run by KillAll, last registered first.
var (
	cleanupMu sync.Mutex
	cleanups  []func()
)

func registerCleanup(f func()) {
	cleanupMu.Lock()
	defer cleanupMu.Unlock()
	cleanups = append(cleanups, f)
}

// KillAll kills every child process started through this package and stops the control
// plane. It is safe to call more than once and from a signal handler goroutine.
func KillAll() {
	cleanupMu.Lock()
	fs := cleanups
	cleanups = nil
	cleanupMu.Unlock()
	for i := len(fs) - 1; i >= 0; i-- {
		fs[i]()
	}
}

// HandleSignals cancels the returned context on SIGINT or SIGTERM and, on a second signal or
// when the program has not returned within grace, kills every child and exits with code 130.
func HandleSignals(parent context.Context, grace time.Duration) (context.Context, context.CancelFunc) {
	ctx, cancel := context.WithCancel(parent)
	ch := make(chan os.Signal, 2)
	signal.Notify(ch, os.Interrupt, syscall.SIGTERM)
	go func() {
		sig := <-ch
		fmt.Fprintf(os.Stderr, "harness: %v: stopping\n", sig)
		cancel()
		select {
		case <-ch:
		case <-time.After(grace):
		}
		KillAll()
		os.Exit(130)
	}()
	return ctx, cancel
}

// Process is one child process whose output goes to a log file.
type Process struct {
	Name    string
	LogPath string
	cmd     *exec.Cmd
	log     *os.File
	done    chan struct{}
	err     error
	started time.Time
	killed  bool
	mu      sync.Mutex
}

// StartProcess starts path with args, appending stdout and stderr to logPath. The child gets
// SIGKILL if this program dies (Pdeathsig), and KillAll kills it too.
func StartProcess(name, logPath, path string, args ...string) (*Process, error) {
	return StartProcessEnv(name, logPath, nil, path, args...)
}

// StartProcessEnv is StartProcess with extra environment variables for the child.
func StartProcessEnv(name, logPath string, env []string, path string, args ...string) (*Process, error) {
	f, err := os.OpenFile(logPath, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		return nil, err
	}
	// The child outlives any one caller's context: Stop, Kill and KillAll end it (a context
	// would SIGKILL it where the harness wants a graceful stop), so it gets none of its own.
	cmd := exec.CommandContext(context.Background(), path, args...)
	if len(env) > 0 {
		cmd.Env = append(os.Environ(), env...)
	}
	cmd.Stdout, cmd.Stderr = f, f
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	if err := cmd.Start(); err != nil {
		_ = f.Close()
		return nil, fmt.Errorf("start %s: %w", name, err)
	}
	p := &Process{Name: name, LogPath: logPath, cmd: cmd, log: f, done: make(chan struct{}), started: time.Now()}
	go func() {
		p.err = cmd.Wait()
		_ = f.Close()
		close(p.done)
	}()
	registerCleanup(func() { _ = p.Kill() })
	return p, nil
}

// PID is the child's process ID.
func (p *Process) PID() int { return p.cmd.Process.Pid }

// Started is when the process was started.
func (p *Process) Started() time.Time { return p.started }

// Done is closed when the process has exited.
func (p *Process) Done() <-chan struct{} { return p.done }

// Exited reports whether the process has exited, and its wait error.
func (p *Process) Exited() (bool, error) {
	select {
	case <-p.done:
		return true, p.err
	default:
		return false, nil
	}
}

// Killed reports whether the harness killed or stopped the process (as opposed to it exiting
// on its own).
func (p *Process) Killed() bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.killed
}

// Kill sends SIGKILL and waits for the process to be gone.
func (p *Process) Kill() error {
	return p.signal(syscall.SIGKILL, 0)
}

// Stop sends SIGTERM and waits up to timeout, then SIGKILL.
func (p *Process) Stop(timeout time.Duration) error {
	return p.signal(syscall.SIGTERM, timeout)
}

// Terminate sends SIGTERM and waits up to grace for the process to exit on its own; past
// grace it sends SIGKILL. It reports whether the process exited within grace, and how long
// it took.
func (p *Process) Terminate(grace time.Duration) (inTime bool, took time.Duration, err error) {
	t0 := time.Now()
	if done, _ := p.Exited(); done {
		return true, 0, nil
	}
	p.mu.Lock()
	p.killed = true
	p.mu.Unlock()
	if err := p.cmd.Process.Signal(syscall.SIGTERM); err != nil && !errors.Is(err, os.ErrProcessDone) {
		return false, 0, err
	}
	select {
	case <-p.done:
		return true, time.Since(t0), nil
	case <-time.After(grace):
	}
	return false, time.Since(t0), p.Kill()
}

func (p *Process) signal(sig syscall.Signal, timeout time.Duration) error {
	if done, _ := p.Exited(); done {
		return nil
	}
	p.mu.Lock()
	p.killed = true
	p.mu.Unlock()
	if err := p.cmd.Process.Signal(sig); err != nil && !errors.Is(err, os.ErrProcessDone) {
		return err
	}
	if sig != syscall.SIGKILL {
		select {
		case <-p.done:
			return nil
		case <-time.After(timeout):
			_ = p.cmd.Process.Signal(syscall.SIGKILL)
		}
	}
	select {
	case <-p.done:
		return nil
	case <-time.After(30 * time.Second):
		return fmt.Errorf("%s (pid %d) did not exit", p.Name, p.PID())
	}
}

// FreeAddr returns a 127.0.0.1:port that was free a moment ago, for a child process to
// listen on. The port comes from below the kernel's ephemeral range: a port the kernel hands
// out for :0 lies inside that range, where any process's next outgoing connection may take it
// before the child binds it. The chaos suite saw exactly that: a restarted manager exited
// with "bind: address already in use" on a port FreeAddr had just checked. Below the range
// only another explicit bind can collide, and this process never hands out a port twice.
func FreeAddr() (string, error) {
	portMu.Lock()
	defer portMu.Unlock()
	lo, hi := freePortRange()
	for range 200 {
		port := lo + rand.IntN(hi-lo)
		if portsGiven[port] {
			continue
		}
		addr := net.JoinHostPort("127.0.0.1", strconv.Itoa(port))
		var lc net.ListenConfig
		l, err := lc.Listen(context.Background(), "tcp", addr)
		if err != nil {
			continue // in use
		}
		if err := l.Close(); err != nil {
			return "", err
		}
		portsGiven[port] = true
		return addr, nil
	}
	return "", fmt.Errorf("no free port found in %d-%d", lo, hi-1)
}

var (
	portMu     sync.Mutex
	portsGiven = map[int]bool{}
)

// freePortRange is [lo, hi): the 12 000 ports below the first ephemeral port, as
// /proc/sys/net/ipv4/ip_local_port_range gives it (32768 where it cannot be read).
func freePortRange() (lo, hi int) {
	hi = 32768
	if b, err := os.ReadFile("/proc/sys/net/ipv4/ip_local_port_range"); err == nil {
		if f := strings.Fields(string(b)); len(f) == 2 {
			if n, err := strconv.Atoi(f[0]); err == nil && n > 13024 {
				hi = n
			}
		}
	}
	return hi - 12000, hi
}

// WaitHTTP polls url until it answers 200, the process exits, or timeout.
func WaitHTTP(ctx context.Context, p *Process, url string, timeout time.Duration) error {
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	hc := &http.Client{Timeout: 2 * time.Second}
	tick := time.NewTicker(50 * time.Millisecond)
	defer tick.Stop()
	for {
		req, _ := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
		if resp, err := hc.Do(req); err == nil {
			_ = resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return nil
			}
		}
		if p != nil {
			if done, err := p.Exited(); done {
				if err == nil {
					return fmt.Errorf("%s exited while starting (exit status 0); see %s", p.Name, p.LogPath)
				}
				return fmt.Errorf("%s exited while starting (%w); see %s", p.Name, err, p.LogPath)
			}
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("%s not ready at %s within %s", nameOf(p), url, timeout)
		case <-tick.C:
		}
	}
}

func nameOf(p *Process) string {
	if p == nil {
		return "server"
	}
	return p.Name + " (pid " + strconv.Itoa(p.PID()) + ")"
}
