package memlimit

import (
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
