package temporalclient

import (
	"context"
	"fmt"
	"strings"

	"go.temporal.io/api/enums/v1"
	"go.temporal.io/api/operatorservice/v1"
	"go.temporal.io/sdk/client"
)

// EnsureSearchAttributes registers the NAME=Type search attributes that are missing, so a
// reused dev server (or a fresh cluster) answers PayPortal's ops queries.
func EnsureSearchAttributes(ctx context.Context, c client.Client, namespace string, attrs []string) error {
	list, err := c.OperatorService().ListSearchAttributes(ctx, &operatorservice.ListSearchAttributesRequest{Namespace: namespace})
	if err != nil {
		return fmt.Errorf("list search attributes: %w", err)
	}
	missing := map[string]enums.IndexedValueType{}
	for _, a := range attrs {
		name, typ, _ := strings.Cut(a, "=")
		if _, ok := list.GetCustomAttributes()[name]; ok {
			continue
		}
		v, ok := enums.IndexedValueType_shorthandValue[typ]
		if !ok {
			return fmt.Errorf("search attribute %s: unknown type %q", name, typ)
		}
		missing[name] = enums.IndexedValueType(v)
	}
	if len(missing) == 0 {
		return nil
	}
	_, err = c.OperatorService().AddSearchAttributes(ctx, &operatorservice.AddSearchAttributesRequest{
		Namespace: namespace, SearchAttributes: missing,
	})
	if err != nil {
		return fmt.Errorf("add search attributes: %w", err)
	}
	return nil
}
