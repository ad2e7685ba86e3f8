package controller

import (
	"flag"
	"os"
	"testing"

	"github.com/partnercart/partnercart-operator/internal/testenv"
)

// env is the real API server shared by every test of this package: started once in TestMain.
var env *testenv.Env

func TestMain(m *testing.M) {
	flag.Parse()
	if f := flag.Lookup("test.run"); f != nil && simulationOnly(f.Value.String()) {
		os.Exit(m.Run()) // the checkout simulation needs no kube-apiserver
	}
	os.Exit(testenv.RunMain(m, func(e *testenv.Env) { env = e }))
}
