package controller

import (
	"os"
	"testing"

	"github.com/partnercart/partnercart-operator/internal/testenv"
)

// env is the real API server shared by every test of this package: started once in TestMain.
var env *testenv.Env

func TestMain(m *testing.M) {
	os.Exit(testenv.RunMain(m, func(e *testenv.Env) { env = e }))
}
