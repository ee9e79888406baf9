// Compile our own contracts (src/*.sol) offline with solc-js and print, as JSON on stdout, each
// deployable contract's ABI and bytecode. The output is committed as
// src/basis_strategy/venues/live/contracts.json; a test recompiles and compares.
//   node contracts/compile.mjs > src/basis_strategy/venues/live/contracts.json
import { readFileSync, readdirSync } from "node:fs";
import { createRequire } from "node:module";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";

const require = createRequire(import.meta.url);
const solc = require("solc");
const here = dirname(fileURLToPath(import.meta.url));
const folder = join(here, "src");
const DEPLOYED = ["BasisAccount", "MockLST", "MockStETH", "MockWstETH", "SwapPool"];

const sources = {};
for (const file of readdirSync(folder).filter((f) => f.endsWith(".sol")).sort()) {
  sources[file] = { content: readFileSync(join(folder, file), "utf8") };
}
const input = {
  language: "Solidity",
  sources,
  settings: {
    optimizer: { enabled: true, runs: 200 },
    evmVersion: "shanghai",
    metadata: { bytecodeHash: "none" },
    outputSelection: { "*": { "*": ["abi", "evm.bytecode.object"] } },
  },
};
const output = JSON.parse(solc.compile(JSON.stringify(input)));
const errors = (output.errors || []).filter((e) => e.severity === "error");
if (errors.length) {
  for (const e of errors) console.error(e.formattedMessage);
  process.exit(1);
}
const result = { compiler: `solc-js ${solc.version()}`, contracts: {} };
for (const name of DEPLOYED) {
  const contract = output.contracts[`${name}.sol`][name];
  result.contracts[name] = { abi: contract.abi, bytecode: "0x" + contract.evm.bytecode.object };
}
process.stdout.write(JSON.stringify(result, null, 1) + "\n");
