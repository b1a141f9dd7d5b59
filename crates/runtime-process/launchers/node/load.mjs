// Loading the user's entry point and deciding how to call it (vercel-compat 1.2).

import http from 'node:http';
import module from 'node:module';
import path from 'node:path';
import { readFileSync } from 'node:fs';
import { pathToFileURL } from 'node:url';

export const HTTP_METHODS = ['GET', 'HEAD', 'OPTIONS', 'POST', 'PUT', 'DELETE', 'PATCH'];

/** How long to wait for a module that starts its own server (`server.listen()`). */
const CAPTURE_WAIT_MS = 1000;

const originalListen = http.Server.prototype.listen;
let captured = null;
let onCapture = null;

/** Swallows `listen()` calls of user code, remembering the first server (1.2 step 1). */
export function captureListen() {
  http.Server.prototype.listen = function listen() {
    if (!captured) {
      captured = this;
      onCapture?.(this);
    }
    return this;
  };
}

/** Gives `listen()` back to code that runs after loading. */
export function restoreListen() {
  http.Server.prototype.listen = originalListen;
}

/** `listen()` that the capture does not swallow, for the launcher's own server. */
export function listen(server, ...args) {
  return originalListen.apply(server, args);
}

/**
 * Module hooks (run on Node's loader thread) for `import m from './x.wasm?module'`: the import
 * yields a compiled `WebAssembly.Module`, as on Vercel (vercel-compat 7.3).
 */
const WASM_MODULE_HOOKS = `
const SUFFIX = '.wasm?module';
export async function resolve(specifier, context, next) {
  if (!specifier.endsWith(SUFFIX)) return next(specifier, context);
  const resolved = await next(specifier.slice(0, -'?module'.length), context);
  return { url: resolved.url + '?module', format: 'module', shortCircuit: true };
}
export async function load(url, context, next) {
  if (!url.endsWith(SUFFIX)) return next(url, context);
  const file = JSON.stringify(url.slice(0, -'?module'.length));
  return {
    format: 'module',
    shortCircuit: true,
    source: 'import { readFileSync } from "node:fs";\\n' +
      'export default new WebAssembly.Module(readFileSync(new URL(' + file + ')));\\n',
  };
}
`;

/**
 * Whether the entry file imports `*.wasm?module`. Registering Node's module hooks starts a
 * loader thread (40-80 ms), so only functions that use them pay for it.
 */
function usesWasmModules(file) {
  try {
    return readFileSync(file, 'utf8').includes('.wasm?module');
  } catch {
    return false;
  }
}

/**
 * Makes `*.wasm?module` imports yield a `WebAssembly.Module`: Node through module hooks, Bun
 * through a runtime plugin. Called once, before the user's module is imported.
 */
export function registerWasmModules() {
  if (typeof globalThis.Bun !== 'undefined') {
    globalThis.Bun.plugin({
      name: 'eddy-wasm-module',
      setup(build) {
        build.onResolve({ filter: /\.wasm\?module$/ }, (args) => ({
          path: path.resolve(path.dirname(args.importer), args.path.slice(0, -'?module'.length)),
          namespace: 'eddy-wasm-module',
        }));
        build.onLoad({ filter: /.*/, namespace: 'eddy-wasm-module' }, (args) => ({
          exports: { default: new WebAssembly.Module(readFileSync(args.path)) },
          loader: 'object',
        }));
      },
    });
    return;
  }
  if (typeof module.register === 'function') {
    module.register(`data:text/javascript,${encodeURIComponent(WASM_MODULE_HOOKS)}`);
  }
}

/** An error the launcher reports as is, without a stack. */
export class LoadError extends Error {}

function waitForCapture() {
  if (captured) return Promise.resolve(captured);
  return new Promise((resolve) => {
    const timer = setTimeout(() => resolve(null), CAPTURE_WAIT_MS);
    onCapture = (server) => {
      clearTimeout(timer);
      resolve(server);
    };
  });
}

function isServer(value) {
  return (
    value !== null &&
    typeof value === 'object' &&
    typeof value.listen === 'function' &&
    typeof value.emit === 'function' &&
    typeof value.listenerCount === 'function' &&
    value.listenerCount('request') > 0
  );
}

/**
 * Imports `handler` (relative to the working directory; CommonJS or ES module) and returns its
 * shape:
 * - `{ kind: 'web', handlers }`: named `GET`/`POST`/... exports or a `fetch` method;
 * - `{ kind: 'listener', listener, helpers }`: a `(req, res)` function (helpers unless it is
 *   an app with its own `listen`, like Express);
 * - `{ kind: 'server', server }`: an exported or started `http.Server`.
 */
export async function load(handler, options) {
  if (typeof options.awsLambdaHandler === 'string' && options.awsLambdaHandler !== '') {
    throw new LoadError(
      `function ${handler}: awsLambdaHandler ${options.awsLambdaHandler} is not supported by eddy yet (export a default (req, res) function instead)`,
    );
  }
  const entry = path.resolve(handler);
  if (usesWasmModules(entry)) registerWasmModules();
  let mod;
  try {
    mod = await import(pathToFileURL(entry).href);
  } catch (error) {
    if (error?.code === 'ERR_UNKNOWN_FILE_EXTENSION' && String(error.message).includes('".wasm"')) {
      throw new LoadError(
        `function ${handler}: ${error.message}; import WebAssembly as \`import m from './x.wasm?module'\` (eddy enables \`?module\` imports when the entry file itself mentions \`.wasm?module\`)`,
      );
    }
    throw error;
  }
  // TypeScript and bundlers nest `default` (vercel-compat 1.2 step 2).
  for (let i = 0; i < 5; i++) {
    if (mod && mod.default) mod = mod.default;
  }
  const useWebApi = options.useWebApi === true || process.env.VERCEL_USE_WEB_API === '1';
  if (mod && (HTTP_METHODS.some((m) => typeof mod[m] === 'function') || typeof mod.fetch === 'function')) {
    return { kind: 'web', handlers: mod };
  }
  if (useWebApi && typeof mod === 'function') {
    return { kind: 'web', handlers: { fetch: mod } };
  }
  if (typeof mod === 'function') {
    const helpers = typeof mod.listen !== 'function' && options.shouldAddHelpers !== false;
    return { kind: 'listener', listener: mod, helpers };
  }
  if (isServer(mod)) return { kind: 'server', server: mod };
  const server = await waitForCapture();
  if (server) return { kind: 'server', server };
  throw new LoadError(
    `function ${handler}: handler export not found (export a default function, a fetch handler or named GET/POST/... exports)`,
  );
}
