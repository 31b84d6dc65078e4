package worker_test

import (
	"reflect"
	"runtime"
)

func runtimeName(f any) string { return runtime.FuncForPC(reflect.ValueOf(f).Pointer()).Name() }
