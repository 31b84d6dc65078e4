package api

import (
	"github.com/gin-gonic/gin"

	"github.com/payportal/payportal/internal/billing"
)

// CardService adds cards on file and records reps' decisions. (Filled in by the card-on-file
// feature.)
type CardService interface{}

func (s *Server) addPaymentMethod(c *gin.Context)          { s.writeError(c, notYet()) }
func (s *Server) listPaymentMethods(c *gin.Context)        { s.writeError(c, notYet()) }
func (s *Server) getPaymentMethod(c *gin.Context)          { s.writeError(c, notYet()) }
func (s *Server) listPendingPaymentMethods(c *gin.Context) { s.writeError(c, notYet()) }
func (s *Server) decidePaymentMethod(c *gin.Context)       { s.writeError(c, notYet()) }

func notYet() error {
	return billing.Errorf(billing.KindNotFound, billing.CodeNotFound, "not implemented yet")
}
