package main

import (
	"context"
	"fmt"
	"path/filepath"
	"strings"
	"time"

	"github.com/partnercart/partnercart-operator/internal/harness"
)

// restartIfExited restarts a manager that exited on its own, as the kubelet would. A manager
// that starts while kube-apiserver is down fails its setup and exits; that is expected. Any
// other exit counts against it.
func (r *chaosRun) restartIfExited(mgr *harness.Manager) error {
	if done, werr := mgr.Exited(); done && !mgr.Killed() {
		last := lastLine(mgr.LogPath)
		if strings.Contains(last, "connection refused") {
			r.cl.startupExits++
		} else {
			r.cl.unexpectedExits = append(r.cl.unexpectedExits, fmt.Sprintf("%s: %v: %s", filepath.Base(mgr.LogPath), werr, last))
		}
		r.logf("%s exited on its own (%v); restarting", filepath.Base(mgr.LogPath), werr)
		return mgr.Start()
	}
	return nil
}

// chaos kills the manager after each planned life and restarts it at once, at least minKills
// times and on until most carts are done (at most maxKills); after the apiRestartAfter-th
// kill, it also stops kube-apiserver for apiDown and starts it again. Between the
// secondFrom-th and the secondUntil-th kill a second manager runs alongside.
func (r *chaosRun) chaos(ctx context.Context, s *stack, p *plan, prog *progress) error {
	defer r.stopSecond(s, p)
	for i := 0; ; i++ {
		terminal, _ := prog.get()
		if i >= r.o.maxKills || (i >= r.o.minKills && r.cl.apiRestarts > 0 && terminal*10 >= r.o.carts*9) {
			return nil
		}
		life := p.lives[i]
		select {
		case <-ctx.Done():
			return fmt.Errorf("deadline or signal during the chaos phase: %w", ctx.Err())
		case <-time.After(time.Until(s.mgr.Started().Add(life))):
		}
		if err := r.killManager(s.mgr, i+1, life, p.sigterm[i], prog); err != nil {
			return err
		}
		if err := r.secondManager(s, p); err != nil {
			return err
		}
		if r.cl.kills == p.apiRestartAfter {
			if err := r.restartAPIServer(s.cp, p.apiDown); err != nil {
				return err
			}
		}
	}
}

// killManager is the nth kill: restart a manager that died by itself first, then SIGKILL it,
// or SIGTERM it and wait for its graceful shutdown, and start a new one at once.
func (r *chaosRun) killManager(mgr *harness.Manager, nth int, life time.Duration, sigterm bool, prog *progress) error {
	if err := r.restartIfExited(mgr); err != nil {
		return fmt.Errorf("restart manager: %w", err)
	}
	terminal, _ := prog.get()
	pending := prog.checkoutsPending()
	how := "SIGKILL"
	if sigterm {
		how = "SIGTERM"
		r.cl.sigterms++
		if pending > 0 {
			r.cl.sigtermsInCko++
		}
		if err := r.terminate(mgr); err != nil {
			return err
		}
	} else if err := mgr.Kill(); err != nil {
		return fmt.Errorf("kill manager: %w", err)
	}
	r.cl.kills++
	if terminal < r.o.carts {
		r.cl.killsWithWork++
	}
	r.logf("%s %d of the manager after %s (%d/%d carts terminal, %d checkouts pending)", how, nth, life.Round(time.Millisecond), terminal, r.o.carts, pending)
	if err := mgr.Start(); err != nil {
		return fmt.Errorf("restart manager: %w", err)
	}
	return nil
}

// gracefulShutdown is how long a manager may take to exit after SIGTERM: cmd/manager's
// GracefulShutdownTimeout (the checkout timeout plus 40s), and a margin.
func (r *chaosRun) gracefulShutdown() time.Duration {
	return r.o.checkoutTimeout + 40*time.Second + 5*time.Second
}

// terminate sends SIGTERM and waits for the manager to exit by itself: one still running
// after its graceful shutdown timeout fails the run.
func (r *chaosRun) terminate(mgr *harness.Manager) error {
	inTime, took, err := mgr.Terminate(r.gracefulShutdown())
	if err != nil {
		return fmt.Errorf("stop %s: %w", filepath.Base(mgr.LogPath), err)
	}
	r.cl.slowestShutdown = max(r.cl.slowestShutdown, took)
	if !inTime {
		r.fail("%s did not exit within %s of SIGTERM; it was SIGKILLed", filepath.Base(mgr.LogPath), r.gracefulShutdown())
	}
	if _, werr := mgr.Exited(); werr != nil && inTime {
		r.logf("%s exited after SIGTERM with %v", filepath.Base(mgr.LogPath), werr)
	}
	return nil
}

// secondManager starts the second manager after the secondFrom-th kill, restarts it if it
// exited by itself, and stops it after the secondUntil-th.
func (r *chaosRun) secondManager(s *stack, p *plan) error {
	if s.second == nil {
		return nil
	}
	switch {
	case r.cl.kills == p.secondFrom:
		r.logf("starting a second manager, without leader election, alongside the first")
		r.cl.secondStarted = time.Now()
		return s.second.Start()
	case r.cl.kills == p.secondUntil:
		r.stopSecond(s, p)
	case r.cl.kills > p.secondFrom && r.cl.kills < p.secondUntil:
		return r.restartIfExited(s.second)
	}
	return nil
}

// stopSecond stops the second manager if it runs (SIGTERM or SIGKILL, as planned).
func (r *chaosRun) stopSecond(s *stack, p *plan) {
	if s.second == nil || s.second.Starts == 0 {
		return
	}
	if done, _ := s.second.Exited(); done {
		return
	}
	r.cl.secondRan = time.Since(r.cl.secondStarted)
	if p.secondSigterm {
		r.cl.secondStops = " (SIGTERM)"
		if err := r.terminate(s.second); err != nil {
			r.fail("%v", err)
		}
	} else {
		r.cl.secondStops = " (SIGKILL)"
		if err := s.second.Kill(); err != nil {
			r.fail("kill the second manager: %v", err)
		}
	}
	r.logf("stopped the second manager%s after %s", r.cl.secondStops, r.cl.secondRan.Round(time.Millisecond))
}

// restartAPIServer stops kube-apiserver for down and starts it again.
func (r *chaosRun) restartAPIServer(cp *harness.ControlPlane, down time.Duration) error {
	r.logf("stopping kube-apiserver for %s", down.Round(time.Millisecond))
	t0 := time.Now()
	killed, err := cp.StopAPIServer()
	if err != nil {
		return fmt.Errorf("stop kube-apiserver: %w", err)
	}
	if killed {
		r.logf("kube-apiserver did not stop within 15s of SIGTERM: SIGKILLed")
	}
	time.Sleep(down) // the outage itself, not synchronisation
	if err := cp.StartAPIServer(); err != nil {
		return fmt.Errorf("restart kube-apiserver: %w", err)
	}
	r.cl.apiRestarts++
	r.cl.apiDowntime = time.Since(t0)
	r.logf("kube-apiserver is back after %s", r.cl.apiDowntime.Round(time.Millisecond))
	return nil
}
