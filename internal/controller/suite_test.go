package controller

import (
	"context"
	"fmt"
	"os"
	"testing"

	"github.com/partnercart/partnercart-operator/internal/testenv"
)

// env is the real API server shared by every test of this package: started once in TestMain.
var env *testenv.Env

func TestMain(m *testing.M) {
	os.Exit(runSuite(m))
}

func runSuite(m *testing.M) int {
	var err error
	env, err = testenv.Start(context.Background())
	if err != nil {
		fmt.Fprintln(os.Stderr, "envtest:", err)
		return 1
	}
	defer func() {
		if err := env.Stop(); err != nil {
			fmt.Fprintln(os.Stderr, "envtest stop:", err)
		}
	}()
	return m.Run()
}
