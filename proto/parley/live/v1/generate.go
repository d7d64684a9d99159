package livev1

// The web client's copy of this contract is generated, never written by
// hand; tsgen's test fails when the committed file is stale.
//go:generate go run ./tsgen -out ../../../../web/src/lib/contract.gen.ts
