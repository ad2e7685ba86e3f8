package memlimit

import (
	"runtime"
	"runtime/debug"
	"testing"
	"testing/fstest"
)

func TestCgroupLimit(t *testing.T) {
	file := func(s string) *fstest.MapFile { return &fstest.MapFile{Data: []byte(s)} }
	for name, tc := range map[string]struct {
		fs   fstest.MapFS
		want int64
	}{
		"v2 in a cgroup namespace": {fstest.MapFS{
			"proc/self/cgroup":         file("0::/\n"),
			"sys/fs/cgroup/memory.max": file("268435456\n"),
		}, 268435456},
		"v2 without a limit": {fstest.MapFS{
			"proc/self/cgroup":         file("0::/\n"),
			"sys/fs/cgroup/memory.max": file("max\n"),
		}, 0},
		"v2 nested, the smallest of the chain": {fstest.MapFS{
			"proc/self/cgroup":                           file("0::/kubepods/pod1/ctr\n"),
			"sys/fs/cgroup/kubepods/pod1/ctr/memory.max": file("max\n"),
			"sys/fs/cgroup/kubepods/pod1/memory.max":     file("134217728\n"),
			"sys/fs/cgroup/kubepods/memory.max":          file("1073741824\n"),
		}, 134217728},
		"v1 hybrid, unlimited": {fstest.MapFS{
			"proc/self/cgroup": file("4:memory:/process_api/a1\n0::/\n"),
			"sys/fs/cgroup/memory/process_api/a1/memory.limit_in_bytes": file("9223372036854771712\n"),
			"sys/fs/cgroup/memory/memory.limit_in_bytes":                file("9223372036854771712\n"),
		}, 0},
		"v1 with a limit": {fstest.MapFS{
			"proc/self/cgroup": file("11:cpuset:/\n4:cpu,memory:/docker/abc\n"),
			"sys/fs/cgroup/memory/docker/abc/memory.limit_in_bytes": file("536870912\n"),
		}, 536870912},
		"no cgroup file":  {fstest.MapFS{}, 0},
		"garbage in file": {fstest.MapFS{"proc/self/cgroup": file("0::/\n"), "sys/fs/cgroup/memory.max": file("lots")}, 0},
	} {
		t.Run(name, func(t *testing.T) {
			if got := CgroupLimit(tc.fs); got != tc.want {
				t.Errorf("CgroupLimit = %d, want %d", got, tc.want)
			}
		})
	}
}

func TestSetKeepsAnExplicitGOMEMLIMIT(t *testing.T) {
	t.Setenv("GOMEMLIMIT", "100MiB")
	if d := Set(DefaultShare); d.Source != "GOMEMLIMIT" {
		t.Errorf("Set with GOMEMLIMIT set: source %q, want GOMEMLIMIT", d.Source)
	}
}

func TestGCPercentFor(t *testing.T) {
	for _, tc := range []struct {
		live uint64
		want int
	}{
		{0, 100},             // before the first collection
		{4 << 20, 100},       // a small cache may double: GOGC 100, the runtime's default
		{16 << 20, 100},      // headroom == live
		{32 << 20, 50},       // 16 MiB of headroom
		{64 << 20, 25},       // 10 000 carts: a quarter
		{1 << 30, 25},        // never below a quarter
		{(16 << 20) * 3, 33}, // rounds down
		{(16 << 20) + 1, 99}, // just above the headroom
	} {
		if got := GCPercentFor(tc.live); got != tc.want {
			t.Errorf("GCPercentFor(%d MiB) = %d, want %d", tc.live>>20, got, tc.want)
		}
	}
}

// held is live heap that TestTuneGCFollowsTheLiveHeap holds and releases.
var held [][]byte

// TestTuneGCFollowsTheLiveHeap grows the live heap past the headroom and lets it go again:
// after collections, GOGC must follow it down to NoLimitMinGCPercent's side and back up to 100.
func TestTuneGCFollowsTheLiveHeap(t *testing.T) {
	orig := debug.SetGCPercent(100)
	t.Cleanup(func() {
		tuning.Store(false)
		debug.SetGCPercent(orig)
	})
	TuneGC()
	// collectUntil forces collections until GOGC is what the tuner should have set for the live
	// heap and ok accepts it; the tuner's finalizer runs on the finalizer goroutine after each.
	// One P, so that the finalizer goroutine and this one share a tiny allocator, and tiny
	// objects that stay live are allocated all the time: a sentinel from the tiny allocator
	// would share their blocks and never be finalized, and GOGC would stop following the heap.
	defer runtime.GOMAXPROCS(runtime.GOMAXPROCS(1))
	var tiny []*byte
	collectUntil := func(what string, ok func(p int) bool) {
		t.Helper()
		for range 200 {
			for range 64 {
				tiny = append(tiny, new(byte))
			}
			runtime.GC()
			runtime.Gosched()
			if p := gcPercent(); p == GCPercentFor(liveHeap()) && ok(p) {
				return
			}
		}
		t.Fatalf("%s: GOGC %d with %d MiB live, want %d", what, gcPercent(), liveHeap()>>20, GCPercentFor(liveHeap()))
	}
	held = make([][]byte, 48)
	for i := range held {
		held[i] = make([]byte, 1<<20)
	}
	collectUntil("48 MiB live", func(p int) bool { return p < 40 })
	held = nil
	collectUntil("the 48 MiB released", func(p int) bool { return p == NoLimitMaxGCPercent })
	runtime.KeepAlive(tiny)
}
