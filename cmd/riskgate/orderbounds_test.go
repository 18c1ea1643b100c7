package main

import (
	"testing"

	"github.com/spf13/cobra"

	"github.com/riskgate/riskgate/domain"
)

func TestOrderBoundsFlags(t *testing.T) {
	tests := []struct {
		name     string
		args     []string
		qty, prc string // environment
		want     domain.OrderBounds
		wantErr  bool
	}{
		{name: "defaults", want: domain.OrderBounds{}},
		{name: "flags", args: []string{"--max-order-qty=1e9", "--max-order-price", "5e5"}, want: domain.OrderBounds{MaxQty: 1e9, MaxPrice: 5e5}},
		{name: "environment", qty: "2e8", prc: "10", want: domain.OrderBounds{MaxQty: 2e8, MaxPrice: 10}},
		{name: "a flag beats the environment", args: []string{"--max-order-qty=3"}, qty: "2e8", want: domain.OrderBounds{MaxQty: 3}},
		{name: "bad environment", qty: "lots", wantErr: true},
		{name: "negative", args: []string{"--max-order-price=-1"}, wantErr: true},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Setenv(envMaxOrderQty, tc.qty)
			t.Setenv(envMaxOrderPrice, tc.prc)
			cmd := &cobra.Command{Use: "role"}
			var o orderBoundsFlags
			addOrderBoundsFlags(cmd, &o)
			if err := cmd.ParseFlags(tc.args); err != nil {
				t.Fatal(err)
			}
			got, err := o.bounds(cmd)
			if (err != nil) != tc.wantErr {
				t.Fatalf("error %v, want error %v", err, tc.wantErr)
			}
			if !tc.wantErr && got != tc.want {
				t.Fatalf("bounds %+v, want %+v", got, tc.want)
			}
		})
	}
}
