package main

import (
	"context"
	"flag"
	"runtime"
	"runtime/debug"
)

// version is the release, set at build time with -ldflags "-X main.version=v0.1.0".
var version = "dev"

// versionInfo is what `version` prints.
type versionInfo struct {
	Version   string `json:"version"`
	GoVersion string `json:"goVersion"`
	Platform  string `json:"platform"`
}

// currentVersion is the -ldflags version, else the main module's version when the binary was
// built by `go install ...@version`, else "dev".
func currentVersion() versionInfo {
	v := version
	if v == "dev" {
		if bi, ok := debug.ReadBuildInfo(); ok && bi.Main.Version != "" && bi.Main.Version != "(devel)" {
			v = bi.Main.Version
		}
	}
	return versionInfo{Version: v, GoVersion: runtime.Version(), Platform: runtime.GOOS + "/" + runtime.GOARCH}
}

func versionCommand() *command {
	return &command{
		name:     "version",
		synopsis: []string{"[-o json|yaml]"},
		short:    "the plugin's version and the Go version it was built with",
		long: `Prints the plugin's version (set at build time with -ldflags "-X main.version=...", else the
module version 'go install' recorded, else "dev"), the Go version it was built with and its
platform. It does not contact the cluster.`,
		setup: func(fs *flag.FlagSet, o *options) func(context.Context, *env, []string) error {
			o.addOutput(fs, outputJSON, outputYAML)
			return func(_ context.Context, e *env, args []string) error {
				if err := checkOutput("version", o.output, outputJSON, outputYAML); err != nil {
					return err
				}
				if len(args) != 0 {
					return usageError("version", "takes no arguments")
				}
				v := currentVersion()
				if o.output != outputTable {
					return printData(e.out, o.output, v)
				}
				printf(e.out, "kubectl-partnercart %s\nGo version: %s\nPlatform:   %s\n", v.Version, v.GoVersion, v.Platform)
				return nil
			}
		},
	}
}
