// `require('celeriac/testing')` from CommonJS. Celeriac is one ES module graph; this file hands CommonJS the same
// module (Node's require(esm), on by default since Node 20.19 and 22.12) rather than a second CommonJS
// build, whose classes would differ from the ones the worker and the CLI load. On a Node without
// require(esm) it says what to do instead of failing with ERR_REQUIRE_ESM.
'use strict';
try {
  module.exports = require('../dist/testing/index.js');
} catch (err) {
  if (err && (err.code === 'ERR_REQUIRE_ESM' || err.code === 'ERR_REQUIRE_ASYNC_MODULE')) {
    throw new Error(
      `celeriac is an ES module, and this Node (${process.version}) cannot require() one: use Node >= 20.19 ` +
        "(or >= 22.12), or load it with `const { Celeriac } = await import('celeriac')`, or make your " +
        'project ESM ("type": "module" in package.json, or .mjs/.mts files).',
      { cause: err },
    );
  }
  throw err;
}
