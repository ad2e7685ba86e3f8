// Package memlimit gives the Go runtime a soft memory limit derived from the container's
// memory limit, so that the garbage collector works harder before the kernel's OOM killer
// would: by default the heap may grow to twice the live data (GOGC=100), which in a container
// sized for the live data means being killed during a burst. Without any limit it tunes GOGC
// after every collection instead (TuneGC): the manager's heap is mostly its long-lived cache,
// so a small cache may double between collections and a large one grows by a quarter.
package memlimit

import (
	"bufio"
	"bytes"
	"io/fs"
	"math"
	"os"
	"path"
	"runtime"
	"runtime/debug"
	"runtime/metrics"
	"strconv"
	"strings"
	"sync/atomic"
)

// DefaultShare is the share of the cgroup memory limit given to the Go runtime: the rest is
// for what the runtime does not count (thread stacks outside the heap, the binary, page
// cache charged to the container).
const DefaultShare = 0.9

// Without a memory limit (and without GOGC), the heap may grow between collections by
// NoLimitHeadroom, but by no less than NoLimitMinGCPercent and no more than
// NoLimitMaxGCPercent percent of the live data. At 10 000 carts (65 MiB live) that is GOGC 25,
// which keeps the peak RSS under 150 MiB; at 1000 carts (13 MiB live) it is GOGC 100, the
// runtime's default: the manager then spends about a fifth less CPU per cart than at a fixed
// GOGC 25, for 7 MiB more RSS (docs/performance.md).
const (
	NoLimitHeadroom     = 16 << 20
	NoLimitMinGCPercent = 25
	NoLimitMaxGCPercent = 100
)

// Decision is what Set did, for the log.
type Decision struct {
	// GCPercent is the GOGC now in force.
	GCPercent int
	// TunedGC says that GCPercent is retuned after every collection (TuneGC).
	TunedGC bool
	// Limit is the soft memory limit now in force, in bytes (math.MaxInt64: none).
	Limit int64
	// CgroupLimit is the memory limit found for this process's cgroup, in bytes (0: none).
	CgroupLimit int64
	// Source says where Limit comes from: "GOMEMLIMIT", "cgroup" or "none".
	Source string
}

// Set applies share × the cgroup memory limit as the runtime's soft memory limit, unless the
// GOMEMLIMIT environment variable is set (then the runtime already applied it and it wins).
// When no limit is found either, it starts TuneGC unless GOGC is set.
func Set(share float64) Decision {
	if os.Getenv("GOMEMLIMIT") != "" {
		return Decision{Limit: debug.SetMemoryLimit(-1), Source: "GOMEMLIMIT", GCPercent: gcPercent()}
	}
	cg := CgroupLimit(os.DirFS("/"))
	if cg <= 0 {
		d := Decision{Limit: debug.SetMemoryLimit(-1), Source: "none", GCPercent: gcPercent()}
		if os.Getenv("GOGC") == "" {
			d.GCPercent, d.TunedGC = TuneGC(), true
		}
		return d
	}
	limit := int64(float64(cg) * share)
	debug.SetMemoryLimit(limit)
	return Decision{Limit: limit, CgroupLimit: cg, Source: "cgroup", GCPercent: gcPercent()}
}

// gcPercent reads the GOGC in force.
func gcPercent() int {
	p := debug.SetGCPercent(-1)
	debug.SetGCPercent(p)
	return p
}

// unlimited is the smallest value treated as no limit: cgroup v1 writes "no limit" as the
// largest page-aligned int64.
const unlimited = 1 << 60

// CgroupLimit returns the smallest memory limit on this process's cgroup and its ancestors
// (cgroup v2 memory.max, or v1 memory.limit_in_bytes), read from root (the file system root
// in production), or 0 when there is none or it cannot be read.
func CgroupLimit(root fs.FS) int64 {
	data, err := fs.ReadFile(root, "proc/self/cgroup")
	if err != nil {
		return 0
	}
	var best int64
	take := func(cgroup, mount, file string) {
		// Walk from the process's cgroup up to the root of the mounted hierarchy: a limit set
		// on an ancestor applies too. Inside a cgroup namespace the path is "/" and the
		// mount's root is the container's own cgroup.
		for p := path.Clean("/" + cgroup); ; p = path.Dir(p) {
			if v := readLimit(root, path.Join(mount, p, file)); v > 0 && (best == 0 || v < best) {
				best = v
			}
			if p == "/" {
				return
			}
		}
	}
	sc := bufio.NewScanner(bytes.NewReader(data))
	for sc.Scan() {
		// hierarchy-ID:controller-list:cgroup-path
		parts := strings.SplitN(sc.Text(), ":", 3)
		if len(parts) != 3 {
			continue
		}
		switch {
		case parts[0] == "0" && parts[1] == "":
			take(parts[2], "sys/fs/cgroup", "memory.max")
		case hasController(parts[1], "memory"):
			take(parts[2], "sys/fs/cgroup/memory", "memory.limit_in_bytes")
		}
	}
	return best
}

func hasController(list, name string) bool {
	for c := range strings.SplitSeq(list, ",") {
		if c == name {
			return true
		}
	}
	return false
}

// readLimit reads one limit file: a number of bytes, or "max"; 0 when absent or unlimited.
func readLimit(root fs.FS, name string) int64 {
	data, err := fs.ReadFile(root, name)
	if err != nil {
		return 0
	}
	s := strings.TrimSpace(string(data))
	if s == "max" {
		return 0
	}
	v, err := strconv.ParseInt(s, 10, 64)
	if err != nil || v <= 0 || v >= unlimited || v == math.MaxInt64 {
		return 0
	}
	return v
}

// GCPercentFor is the GOGC that lets a heap of live bytes grow by NoLimitHeadroom before the
// next collection, within [NoLimitMinGCPercent, NoLimitMaxGCPercent].
func GCPercentFor(live uint64) int {
	if live == 0 {
		return NoLimitMaxGCPercent
	}
	return int(min(max(100*NoLimitHeadroom/live, NoLimitMinGCPercent), NoLimitMaxGCPercent))
}

// TuneGC sets GOGC from the live heap now, and again after every collection, for the rest of
// the process's life; it returns the GOGC it set first. A finalizer runs once per collection
// (on an object that the collection found unreachable), which is cheaper and more exact than a
// timer: it runs only when the heap changed and costs nothing while the manager is idle.
func TuneGC() int {
	p := GCPercentFor(liveHeap())
	debug.SetGCPercent(p)
	if tuning.CompareAndSwap(false, true) {
		armGCTuner()
	}
	return p
}

// tuning says that TuneGC's finalizer is armed; a test clears it to stop the tuning.
var tuning atomic.Bool

// gcSentinel is a heap object whose finalizer marks the end of a collection. It holds a
// pointer so that the runtime does not give it from its tiny allocator: a tiny object shares a
// 16-byte block with others and is not finalized while any of them lives, which would leave
// GOGC at whatever it was last set to for as long as a neighbour lives.
type gcSentinel struct{ _ *byte }

func armGCTuner() {
	runtime.SetFinalizer(&gcSentinel{}, func(*gcSentinel) {
		if !tuning.Load() {
			return
		}
		debug.SetGCPercent(GCPercentFor(liveHeap()))
		armGCTuner()
	})
}

// liveHeap is the heap the last collection marked live (0 before the first).
func liveHeap() uint64 {
	s := []metrics.Sample{{Name: "/gc/heap/live:bytes"}}
	metrics.Read(s)
	if s[0].Value.Kind() != metrics.KindUint64 {
		return 0
	}
	return s[0].Value.Uint64()
}
