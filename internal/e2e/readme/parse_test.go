package readme

import (
	"strings"
	"testing"
)

func TestAPIBlocksAndExpectations(t *testing.T) {
	readme := "# T\n```sh\nmake dev\n```\n```sh\ncurl -s $API/a   # → 404 not found\ncurl -s \\\n  $API/b   # → 201\n```\n```json\n{\"curl \": 1}\n```\n"
	blocks, err := apiBlocks(readme)
	if err != nil {
		t.Fatal(err)
	}
	if len(blocks) != 1 || blocks[0].line != 5 {
		t.Fatalf("blocks %+v, want the one at line 5", blocks)
	}
	got := blocks[0].script("http://x", "http://y")
	for _, want := range []string{
		"curl -s $API/a; __expect 404   # → 404 not found\n",
		"  $API/b; __expect 201   # → 201\n",
	} {
		if !strings.Contains(got, want) {
			t.Errorf("script lacks %q:\n%s", want, got)
		}
	}
	if _, err := apiBlocks("```sh\ncurl -s http://127.0.0.1:8080/v1/x\n```\n"); err == nil {
		t.Error("a curl example that names no $API was accepted: it would go unwalked")
	}
	swapped := block{text: "curl " + readmeAPI + "/v1 " + readmeOps + "/metrics\n"}.script("http://a", "http://o")
	if !strings.HasPrefix(swapped, "curl http://a/v1 http://o/metrics\n") {
		t.Errorf("addresses not swapped: %q", swapped)
	}
}
