// Prints, for each pair of SDPs in the JSON array argv[2], what slsrtc.js's
// madeAfter says of them, as a JSON array of booleans. Usage:
//
//   node made-after.mjs '[["<sdp a>", "<sdp b>"], ...]'
import { madeAfter } from "../static/slsrtc.js";

const pairs = JSON.parse(process.argv[2]);
process.stdout.write(JSON.stringify(pairs.map(([a, b]) => madeAfter(a, b))));
