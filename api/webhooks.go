package api

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"

	"github.com/gin-gonic/gin"

	"github.com/payportal/payportal/internal/billing"
	"github.com/payportal/payportal/internal/portal"
)

// WebhookService is an account's webhook endpoints and events.
type WebhookService interface {
	CreateEndpoint(ctx context.Context, accountID string, in portal.NewWebhookEndpoint, key string) (billing.WebhookEndpoint, bool, error)
	Endpoints(ctx context.Context, accountID string, p billing.ListParams) ([]billing.WebhookEndpoint, bool, error)
	DeleteEndpoint(ctx context.Context, accountID, id string) error
	Events(ctx context.Context, accountID string, typ billing.EventType, p billing.ListParams) ([]billing.Event, bool, error)
	Event(ctx context.Context, accountID, id string) (billing.Event, error)
	Redeliver(ctx context.Context, accountID, id, key string) (billing.Event, error)
}

func (s *Server) webhookRoutes(customer *gin.RouterGroup) {
	customer.POST("/webhook-endpoints", s.createWebhookEndpoint)
	customer.GET("/webhook-endpoints", s.listWebhookEndpoints)
	customer.DELETE("/webhook-endpoints/:endpoint_id", s.deleteWebhookEndpoint)
	customer.GET("/events", s.listEvents)
	customer.GET("/events/:event_id", s.getEvent)
	customer.POST("/events/:event_id/redeliver", s.redeliverEvent)
}

type webhookEndpointJSON struct {
	ID          string   `json:"id"`
	URL         string   `json:"url"`
	Events      []string `json:"events"`
	Description string   `json:"description"`
	Status      string   `json:"status"` // enabled | disabled
	CreatedAt   string   `json:"created_at"`
	Secret      string   `json:"secret,omitempty"` // on creation only
}

func webhookEndpointView(w billing.WebhookEndpoint) webhookEndpointJSON {
	v := webhookEndpointJSON{ID: w.ID, URL: w.URL, Description: w.Description, Status: "enabled",
		CreatedAt: timestamp(w.CreatedAt), Events: make([]string, len(w.Events))}
	for i, t := range w.Events {
		v.Events[i] = string(t)
	}
	if w.DisabledAt != nil {
		v.Status = "disabled"
	}
	return v
}

type createWebhookEndpointBody struct {
	URL         string   `json:"url"`
	Events      []string `json:"events"`
	Description string   `json:"description"`
}

func (s *Server) createWebhookEndpoint(c *gin.Context) {
	key, err := idempotencyKey(c)
	if err != nil {
		s.writeError(c, err)
		return
	}
	var b createWebhookEndpointBody
	if err := decodeJSON(c, &b); err != nil {
		s.writeError(c, err)
		return
	}
	in := portal.NewWebhookEndpoint{URL: b.URL, Description: b.Description}
	for _, t := range b.Events {
		in.Events = append(in.Events, billing.EventType(t))
	}
	w, replayed, err := s.Webhooks.CreateEndpoint(c.Request.Context(), c.Param("account_id"), in, key)
	if err != nil {
		s.writeError(c, err)
		return
	}
	v := webhookEndpointView(w)
	v.Secret = w.Secret
	answerWrite(c, http.StatusCreated, replayed, v)
}

func (s *Server) listWebhookEndpoints(c *gin.Context) {
	page, err := listParams(c)
	if err != nil {
		s.writeError(c, err)
		return
	}
	endpoints, hasMore, err := s.Webhooks.Endpoints(c.Request.Context(), c.Param("account_id"), page)
	if err != nil {
		s.writeError(c, err)
		return
	}
	data := make([]webhookEndpointJSON, len(endpoints))
	for i, w := range endpoints {
		data[i] = webhookEndpointView(w)
	}
	c.PureJSON(http.StatusOK, listJSON[webhookEndpointJSON]{Data: data, HasMore: hasMore})
}

func (s *Server) deleteWebhookEndpoint(c *gin.Context) {
	if err := s.Webhooks.DeleteEndpoint(c.Request.Context(), c.Param("account_id"), c.Param("endpoint_id")); err != nil {
		s.writeError(c, err)
		return
	}
	c.Status(http.StatusNoContent)
}

// eventJSON is an event as the API and the webhook deliveries show it; deliveries only on
// the API (a delivery's body is signed once and cannot list itself).
type eventJSON struct {
	ID         string          `json:"id"`
	Type       string          `json:"type"`
	CreatedAt  string          `json:"created_at"`
	AccountID  string          `json:"account_id"`
	Data       eventDataJSON   `json:"data"`
	Deliveries *[]deliveryJSON `json:"deliveries,omitempty"`
}

type eventDataJSON struct {
	Object any `json:"object"`
}

type deliveryJSON struct {
	EndpointID  string `json:"endpoint_id"`
	AttemptedAt string `json:"attempted_at"`
	StatusCode  *int   `json:"status_code"` // null: no answer
	DurationMS  int64  `json:"duration_ms"`
}

// eventView renders the event's snapshot as the API renders its object.
func eventView(e billing.Event) (eventJSON, error) {
	v := eventJSON{ID: e.ID, Type: string(e.Type), CreatedAt: timestamp(e.CreatedAt), AccountID: e.AccountID}
	var err error
	switch e.Type.ObjectKind() {
	case "payment":
		var p billing.Payment
		err = json.Unmarshal(e.Object, &p)
		v.Data.Object = paymentView(p)
	case "payment_method":
		var pm billing.PaymentMethod
		err = json.Unmarshal(e.Object, &pm)
		v.Data.Object = paymentMethodView(pm)
	case "invoice":
		var inv billing.Invoice
		err = json.Unmarshal(e.Object, &inv)
		v.Data.Object = invoiceView(inv)
	case "credit":
		var cr billing.Credit
		err = json.Unmarshal(e.Object, &cr)
		v.Data.Object = creditView(cr)
	default:
		err = fmt.Errorf("event %s of unknown type %s", e.ID, e.Type)
	}
	if err != nil {
		return eventJSON{}, fmt.Errorf("render event %s: %w", e.ID, err)
	}
	return v, nil
}

func eventWithDeliveries(e billing.Event) (eventJSON, error) {
	v, err := eventView(e)
	deliveries := make([]deliveryJSON, len(e.Deliveries))
	for i, d := range e.Deliveries {
		deliveries[i] = deliveryJSON{EndpointID: d.EndpointID, AttemptedAt: timestamp(d.AttemptedAt), DurationMS: d.Duration.Milliseconds()}
		if d.StatusCode != 0 {
			code := d.StatusCode
			deliveries[i].StatusCode = &code
		}
	}
	v.Deliveries = &deliveries
	return v, err
}

// EventBody is the JSON a webhook delivery posts: the event as GET …/events/{id} shows it,
// without its deliveries.
func EventBody(e billing.Event) ([]byte, error) {
	v, err := eventView(e)
	if err != nil {
		return nil, err
	}
	return json.Marshal(v)
}

func (s *Server) listEvents(c *gin.Context) {
	page, err := listParams(c)
	if err != nil {
		s.writeError(c, err)
		return
	}
	events, hasMore, err := s.Webhooks.Events(c.Request.Context(), c.Param("account_id"), billing.EventType(c.Query("type")), page)
	if err != nil {
		s.writeError(c, err)
		return
	}
	data := make([]eventJSON, len(events))
	for i, e := range events {
		if data[i], err = eventWithDeliveries(e); err != nil {
			s.writeError(c, err)
			return
		}
	}
	c.PureJSON(http.StatusOK, listJSON[eventJSON]{Data: data, HasMore: hasMore})
}

func (s *Server) getEvent(c *gin.Context) {
	e, err := s.Webhooks.Event(c.Request.Context(), c.Param("account_id"), c.Param("event_id"))
	if err == nil {
		var v eventJSON
		if v, err = eventWithDeliveries(e); err == nil {
			c.PureJSON(http.StatusOK, v)
			return
		}
	}
	s.writeError(c, err)
}

func (s *Server) redeliverEvent(c *gin.Context) {
	key, err := idempotencyKey(c)
	if err != nil {
		s.writeError(c, err)
		return
	}
	e, err := s.Webhooks.Redeliver(c.Request.Context(), c.Param("account_id"), c.Param("event_id"), key)
	if err == nil {
		var v eventJSON
		if v, err = eventWithDeliveries(e); err == nil {
			c.PureJSON(http.StatusAccepted, v)
			return
		}
	}
	s.writeError(c, err)
}
