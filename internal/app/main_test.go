package app_test

import (
	"testing"

	"github.com/payportal/payportal/internal/testenv"
)

// The tests here start a Temporal dev server through testenv when none is given.
func TestMain(m *testing.M) { testenv.Main(m) }
