//! Every Web API family of vercel-compat 7.2, exercised inside a real isolate.

use http_body_util::BodyExt;

use crate::harness::*;

#[tokio::test]
async fn request_and_response_carry_method_url_headers_and_bodies() {
    let out = eval(
        "const req = new Request('https://a.test/x?y=1', { method: 'post', headers: { 'X-A': '1' }, body: JSON.stringify({ n: 2 }) });
         const copy = req.clone();
         const json = await req.json();
         const r = Response.json({ ok: true }, { status: 201, headers: { 'x-b': '2' } });
         const redirect = Response.redirect('https://b.test/', 307);
         return [req.method, req.url, req.headers.get('x-a'), json.n, await copy.text(), req.bodyUsed,
                 r.status, r.headers.get('content-type'), await r.text(), redirect.status,
                 redirect.headers.get('location'), new Response(null).body === null,
                 Response.error().type].join('|');",
    )
    .await;
    assert_eq!(
        out,
        "POST|https://a.test/x?y=1|1|2|{\"n\":2}|true|201|application/json|{\"ok\":true}|307|https://b.test/|true|error"
    );
}

#[tokio::test]
async fn headers_are_case_insensitive_sorted_and_keep_set_cookie_apart() {
    let out = eval(
        "const h = new Headers([['B', '1'], ['a', '2']]);
         h.append('b', '3'); h.append('Set-Cookie', 'x=1'); h.append('set-cookie', 'y=2');
         return [h.get('B'), [...h.keys()].join(','), h.getSetCookie().join(';'), h.has('A')].join('|');",
    )
    .await;
    assert_eq!(out, "1, 3|a,b,set-cookie,set-cookie|x=1;y=2|true");
}

#[tokio::test]
async fn url_and_search_params_parse_and_update_each_other() {
    let out = eval(
        "const u = new URL('/p/../q?a=1&b=2#h', 'https://user@example.com:8080');
         u.searchParams.append('c', 'x y');
         u.pathname = '/r';
         const p = new URLSearchParams({ z: '1', y: '2' }); p.sort();
         return [u.href, u.host, u.origin, u.searchParams.get('b'), p.toString(), URL.canParse('nope')].join('|');",
    )
    .await;
    assert_eq!(
        out,
        "https://user@example.com:8080/r?a=1&b=2&c=x+y#h|example.com:8080|https://example.com:8080|2|y=2&z=1|false"
    );
}

#[tokio::test]
async fn url_pattern_matches_named_groups() {
    let out = eval(
        "const p = new URLPattern({ pathname: '/users/:id/posts/:post?' });
         const m = p.exec('https://x.test/users/42/posts/7');
         const n = p.exec('https://x.test/users/42/posts');
         return [m.pathname.groups.id, m.pathname.groups.post, n && n.pathname.groups.id, p.test('https://x.test/other')].join('|');",
    )
    .await;
    assert_eq!(out, "42|7|42|false");
}

#[tokio::test]
async fn fetch_reaches_a_local_server_with_method_headers_and_body() {
    let server = server::start().await;
    let out = eval(&format!(
        "const r = await fetch('{server}/echo', {{ method: 'POST', body: 'hi', headers: {{ 'x-test': '1' }} }});
         return [r.status, r.ok, r.headers.get('x-served'), await r.text(), r.url].join('|');"
    ))
    .await;
    assert_eq!(out, format!("200|true|yes|POST /echo|{server}/echo"));
}

#[tokio::test]
async fn a_fetched_body_streams_through_to_the_response() {
    let server = server::start().await;
    let f = function(
        "api/proxy",
        &format!(
            "exports.default = async () => new Response((await fetch('{server}/stream')).body);"
        ),
    );
    let instance = spawn(&f).await;
    let response = send(&instance, request("GET", "/api/proxy", None))
        .await
        .expect("responds");
    let started = std::time::Instant::now();
    let mut body = response.into_body();
    let first = body.frame().await.expect("a frame").expect("ok");
    assert_eq!(first.into_data().expect("data"), "part0;");
    assert!(
        started.elapsed() < std::time::Duration::from_millis(120),
        "the first chunk did not wait for the rest"
    );
    let mut rest = Vec::new();
    while let Some(frame) = body.frame().await {
        rest.extend_from_slice(&frame.expect("ok").into_data().expect("data"));
    }
    assert_eq!(rest, b"part1;part2;");
}

#[tokio::test]
async fn an_aborted_fetch_rejects_with_the_abort_reason() {
    let server = server::start().await;
    let out = eval(&format!(
        "const c = new AbortController();
         const p = fetch('{server}/slow', {{ signal: c.signal }});
         c.abort();
         try {{ await p; return 'resolved'; }} catch (e) {{ return e.name; }}"
    ))
    .await;
    assert_eq!(out, "AbortError");
}

#[tokio::test]
async fn abort_controller_and_event_target_dispatch_events() {
    let out = eval(
        "const seen = [];
         const t = new EventTarget();
         t.addEventListener('ping', (e) => seen.push(e.type), { once: true });
         t.dispatchEvent(new Event('ping')); t.dispatchEvent(new Event('ping'));
         const c = new AbortController();
         c.signal.addEventListener('abort', () => seen.push('aborted'));
         c.abort('why');
         seen.push(c.signal.aborted, c.signal.reason, AbortSignal.abort().reason.name);
         const timed = AbortSignal.timeout(10);
         await new Promise((r) => setTimeout(r, 30));
         seen.push(timed.reason.name);
         return seen.join(',');",
    )
    .await;
    assert_eq!(out, "ping,aborted,true,why,AbortError,TimeoutError");
}

#[tokio::test]
async fn streams_pipe_through_transforms_and_text_streams() {
    let out = eval(
        "const upper = new TransformStream({ transform(chunk, c) { c.enqueue(chunk.toUpperCase()); } });
         const source = new ReadableStream({ start(c) { c.enqueue('ab'); c.enqueue('cd'); c.close(); } });
         const parts = [];
         for await (const part of source.pipeThrough(upper)) parts.push(part);
         const bytes = ReadableStream.from(['é', 'x']).pipeThrough(new TextEncoderStream());
         const text = await new Response(bytes.pipeThrough(new TextDecoderStream())).text();
         const written = [];
         const w = new WritableStream({ write(c) { written.push(c); } });
         const writer = w.getWriter(); await writer.write(1); await writer.write(2); await writer.close();
         const [a, b] = new ReadableStream({ start(c) { c.enqueue('t'); c.close(); } }).tee();
         return [parts.join('+'), text, written.join(','), await new Response(a).text(), await new Response(b).text()].join('|');",
    )
    .await;
    assert_eq!(out, "AB+CD|éx|1,2|t|t");
}

#[tokio::test]
async fn text_encoding_and_base64_round_trip() {
    let out = eval(
        "const bytes = new TextEncoder().encode('héllo €');
         const d = new TextDecoder();
         const split = d.decode(bytes.subarray(0, 2), { stream: true }) + d.decode(bytes.subarray(2));
         let fatal = 'none'; try { new TextDecoder('utf-8', { fatal: true }).decode(new Uint8Array([0xff])); } catch (e) { fatal = e.name; }
         let wide = 'none'; try { btoa('€'); } catch (e) { wide = e.name; }
         return [bytes.length, split, btoa('hi'), atob('aGk='), fatal, wide].join('|');",
    )
    .await;
    assert_eq!(out, "10|héllo €|aGk=|hi|TypeError|InvalidCharacterError");
}

#[tokio::test]
async fn crypto_digests_signs_verifies_and_makes_random_values() {
    let out = eval(
        "const hex = (b) => [...new Uint8Array(b)].map((x) => x.toString(16).padStart(2, '0')).join('');
         const digest = hex(await crypto.subtle.digest('SHA-256', new TextEncoder().encode('abc')));
         const key = await crypto.subtle.importKey('raw', new TextEncoder().encode('key'), { name: 'HMAC', hash: 'SHA-256' }, false, ['sign', 'verify']);
         const data = new TextEncoder().encode('The quick brown fox jumps over the lazy dog');
         const sig = await crypto.subtle.sign('HMAC', key, data);
         const ok = await crypto.subtle.verify('HMAC', key, sig, data);
         const bad = await crypto.subtle.verify('HMAC', key, sig, new Uint8Array([1]));
         const r = crypto.getRandomValues(new Uint32Array(4));
         const uuid = crypto.randomUUID();
         return [digest.slice(0, 8), hex(sig).slice(0, 8), ok, bad, r.some((x) => x !== 0), /^[0-9a-f-]{36}$/.test(uuid) && uuid[14]].join('|');",
    )
    .await;
    assert_eq!(out, "ba7816bf|f7bc83f4|true|false|true|4");
}

#[tokio::test]
async fn structured_clone_copies_deeply_and_refuses_functions() {
    let out = eval(
        "const o = { a: [1, { b: 2 }], m: new Map([['k', new Set([1])]]), d: new Date(5), u: new Uint8Array([1, 2]) };
         o.self = o;
         const c = structuredClone(o);
         let refused = 'no'; try { structuredClone({ f() {} }); } catch (e) { refused = e.name; }
         return [c !== o, c.self === c, c.a[1].b, c.m.get('k').has(1), c.d.getTime(), c.u[1], c.a !== o.a, refused].join('|');",
    )
    .await;
    assert_eq!(out, "true|true|2|true|5|2|true|DataCloneError");
}

#[tokio::test]
async fn timers_intervals_and_microtasks_run_in_order() {
    let out = eval(
        "const seen = [];
         queueMicrotask(() => seen.push('micro'));
         const t = setTimeout(() => seen.push('cancelled'), 5); clearTimeout(t);
         await new Promise((resolve) => {
           let n = 0;
           const i = setInterval(() => { seen.push('tick' + ++n); if (n === 3) { clearInterval(i); resolve(); } }, 5);
         });
         return seen.join(',');",
    )
    .await;
    assert_eq!(out, "micro,tick1,tick2,tick3");
}

#[tokio::test]
async fn blob_file_and_form_data_serialize_and_parse() {
    let out = eval(
        "const form = new FormData();
         form.append('name', 'eddy');
         form.append('file', new Blob(['hello'], { type: 'text/plain' }), 'a.txt');
         const req = new Request('https://x.test/', { method: 'POST', body: form });
         const parsed = await req.formData();
         const file = parsed.get('file');
         const blob = new Blob(['ab', new Uint8Array([99])]);
         const url = await new Response(new URLSearchParams('a=1&a=2'), {}).formData();
         return [parsed.get('name'), file.name, file.type, await file.text(), blob.size, await blob.slice(1).text(), url.getAll('a').join('+')].join('|');",
    )
    .await;
    assert_eq!(out, "eddy|a.txt|text/plain|hello|3|bc|1+2");
}

#[tokio::test]
async fn globals_of_the_edge_runtime_are_present() {
    let out = eval(
        "return [typeof EdgeRuntime === 'string' && EdgeRuntime, self === globalThis, typeof performance.now(),
                 typeof console.log, typeof process.env, typeof require, typeof crypto.subtle.digest,
                 typeof DOMException, typeof WebAssembly].join('|');",
    )
    .await;
    assert_eq!(
        out,
        "edge-runtime|true|number|function|object|undefined|function|function|undefined"
    );
}
