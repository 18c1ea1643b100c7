// Order bounds: the largest qty and price an order may have. The router
// REJECTs an order beyond them and the detector leaves it out, so both
// roles (and the dev stack) must run with the same values: the flags of
// every role read the same environment variables.

package main

import (
	"fmt"
	"os"
	"strconv"

	"github.com/spf13/cobra"

	"github.com/riskgate/riskgate/domain"
)

// orderBoundsFlags are a role's --max-order-qty and --max-order-price.
type orderBoundsFlags struct {
	qty, price float64
}

// Environment variables that set the order bounds when the flags do not.
const (
	envMaxOrderQty   = "RISKGATE_MAX_ORDER_QTY"
	envMaxOrderPrice = "RISKGATE_MAX_ORDER_PRICE"
)

// addOrderBoundsFlags adds the order bounds flags to a role's command.
func addOrderBoundsFlags(cmd *cobra.Command, o *orderBoundsFlags) {
	f := cmd.Flags()
	f.Float64Var(&o.qty, "max-order-qty", 0, fmt.Sprintf(
		"largest qty an order may have; beyond it the router REJECTs the order and the detector leaves it out; 0 means %g (env %s; give routers and detectors the same)",
		domain.DefaultMaxOrderQty, envMaxOrderQty))
	f.Float64Var(&o.price, "max-order-price", 0, fmt.Sprintf(
		"largest price an order may have, as --max-order-qty; 0 means %g (env %s)",
		domain.DefaultMaxOrderPrice, envMaxOrderPrice))
}

// bounds resolves the flags, then their environment variables, then the
// defaults, into the bounds a router or detector Config takes.
func (o *orderBoundsFlags) bounds(cmd *cobra.Command) (domain.OrderBounds, error) {
	b := domain.OrderBounds{MaxQty: o.qty, MaxPrice: o.price}
	for _, v := range []struct {
		flag, env string
		dst       *float64
	}{{"max-order-qty", envMaxOrderQty, &b.MaxQty}, {"max-order-price", envMaxOrderPrice, &b.MaxPrice}} {
		s, ok := os.LookupEnv(v.env)
		if cmd.Flags().Changed(v.flag) || !ok || s == "" {
			continue
		}
		x, err := strconv.ParseFloat(s, 64)
		if err != nil {
			return b, fmt.Errorf("%s=%q: %w", v.env, s, err)
		}
		*v.dst = x
	}
	if err := b.Validate(); err != nil {
		return b, fmt.Errorf("order bounds: %w", err)
	}
	return b, nil
}
