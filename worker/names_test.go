package worker_test

import (
	"flag"
	"os"
	"reflect"
	"slices"
	"strings"
	"testing"

	"go.temporal.io/sdk/activity"
	sdkworker "go.temporal.io/sdk/worker"
	"go.temporal.io/sdk/workflow"

	"github.com/payportal/payportal/activities"
	"github.com/payportal/payportal/worker"
)

var update = flag.Bool("update", false, "rewrite testdata/type_names.golden")

// names records what a registration would register, by the names Temporal would know.
type names struct {
	sdkworker.NexusServiceRegistry // PayPortal registers no Nexus service
	list                           []string
}

func (n *names) RegisterWorkflow(w any) { n.list = append(n.list, "workflow "+funcName(w)) }
func (n *names) RegisterWorkflowWithOptions(w any, o workflow.RegisterOptions) {
	n.list = append(n.list, "workflow "+o.Name)
}
func (n *names) RegisterDynamicWorkflow(any, workflow.DynamicRegisterOptions) {}
func (n *names) RegisterActivity(a any)                                       { n.RegisterActivityWithOptions(a, activity.RegisterOptions{}) }
func (n *names) RegisterActivityWithOptions(a any, o activity.RegisterOptions) {
	t := reflect.TypeOf(a)
	if t.Kind() == reflect.Func {
		n.list = append(n.list, "activity "+o.Name+funcName(a))
		return
	}
	for i := range t.NumMethod() { // a struct's exported methods are its activities
		n.list = append(n.list, "activity "+o.Name+t.Method(i).Name)
	}
}
func (n *names) RegisterDynamicActivity(any, activity.DynamicRegisterOptions) {}

func funcName(f any) string {
	full := strings.TrimSuffix(runtimeName(f), "-fm")
	return full[strings.LastIndex(full, ".")+1:]
}

// TestTypeNamesAreStable: running workflows, their pending activities and the schedules name
// workflow and activity types. A rename that slips in strands them, so the names registered
// are pinned here. Adding a workflow or activity: run `go test ./worker -run TypeNames
// -update`. Renaming one: don't; register the new code under the old name.
func TestTypeNamesAreStable(t *testing.T) {
	var n names
	worker.Register(&n, activities.Dependencies{})
	slices.Sort(n.list)
	got := strings.Join(n.list, "\n") + "\n"
	const golden = "testdata/type_names.golden"
	if *update {
		if err := os.WriteFile(golden, []byte(got), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	want, err := os.ReadFile(golden)
	if err != nil {
		t.Fatalf("%v (run with -update to create it)", err)
	}
	for _, name := range strings.Split(strings.TrimSpace(string(want)), "\n") {
		if !slices.Contains(n.list, name) {
			t.Errorf("%s is no longer registered: running workflows that use it would be stranded", name)
		}
	}
	if got != string(want) {
		t.Errorf("registered type names changed; new ones need `-update`:\n%s", got)
	}
}
