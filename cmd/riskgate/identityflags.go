package main

import (
	"errors"
	"fmt"
	"os"

	"github.com/spf13/cobra"

	"github.com/riskgate/riskgate/workflows"
)

// The operator identity key is shared by the API (which signs every
// operator update with it) and the workers (which check the signature). It
// comes from a file or the environment, never from a flag's value: a flag
// shows in the process list.

const (
	envIdentityKeyFile = "RISKGATE_IDENTITY_KEY_FILE"
	envIdentityKey     = "RISKGATE_IDENTITY_KEY"
)

// addIdentityKeyFlag adds --identity-key-file to cmd.
func addIdentityKeyFlag(cmd *cobra.Command, path *string) {
	cmd.Flags().StringVar(path, "identity-key-file", os.Getenv(envIdentityKeyFile),
		"file of the operator identity key shared by the API and the workers, one key a line, the first signs "+
			"(env "+envIdentityKeyFile+"; or the key itself in env "+envIdentityKey+")")
}

// loadIdentityKeys reads the identity keys from the file at path, else from
// $RISKGATE_IDENTITY_KEY. Neither: nil.
func loadIdentityKeys(path string) (workflows.IdentityKeys, error) {
	inline := os.Getenv(envIdentityKey)
	switch {
	case path != "" && inline != "":
		return nil, errors.New("identity key given twice: use --identity-key-file (" + envIdentityKeyFile + ") or " + envIdentityKey + ", not both")
	case path != "":
		b, err := os.ReadFile(path)
		if err != nil {
			return nil, fmt.Errorf("read identity key file: %w", err)
		}
		keys, err := workflows.ParseIdentityKeys(b)
		if err != nil {
			return nil, fmt.Errorf("identity key file %s: %w", path, err)
		}
		return keys, nil
	case inline != "":
		keys, err := workflows.ParseIdentityKeys([]byte(inline))
		if err != nil {
			return nil, fmt.Errorf("%s: %w", envIdentityKey, err)
		}
		return keys, nil
	}
	return nil, nil
}
