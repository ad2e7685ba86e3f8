package main

import (
	"context"
	"path/filepath"
	"strconv"
	"sync"
	"time"

	"github.com/partnercart/partnercart-operator/internal/harness"
)

// cpuProfiles takes CPU profiles over the first BENCH_CPU_PROFILE of a phase (kube-apiserver's,
// and the manager's when there is one), so that a gap between the operator and the API floor
// can be read function by function instead of guessed at.
type cpuProfiles struct {
	wg sync.WaitGroup
}

// startCPUProfiles starts them in the background, named after phase, when profiling is on.
func (bm *benchmark) startCPUProfiles(ctx context.Context, cp *harness.ControlPlane, mgr *harness.Manager, phase string) *cpuProfiles {
	p := &cpuProfiles{}
	d := bm.cfg.cpuProfile
	if d <= 0 {
		return p
	}
	take := func(what string, save func(path string) error) {
		path := filepath.Join(bm.cfg.dir, phase+"-"+what+"-cpu.pprof")
		p.wg.Add(1)
		go func() {
			defer p.wg.Done()
			if err := save(path); err != nil {
				logf("%s CPU profile: %v", what, err)
				return
			}
			logf("%s CPU profile of %s: %s", what, phase, path)
		}()
	}
	take("kube-apiserver", func(path string) error {
		hc, base, err := apiServerClient(cp)
		if err != nil {
			return err
		}
		return harness.SaveProfile(ctx, hc, base+"/debug/pprof/profile?seconds="+strconv.Itoa(int(d.Seconds())), path, d+30*time.Second)
	})
	if mgr != nil {
		take("manager", func(path string) error { return mgr.SaveCPUProfile(ctx, d, path) })
	}
	return p
}

// wait waits for the profiles to be written.
func (p *cpuProfiles) wait() { p.wg.Wait() }
