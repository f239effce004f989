"""The protocol's vocabulary and pure rules: contracts, ids, state, patches, commands, the guard."""
