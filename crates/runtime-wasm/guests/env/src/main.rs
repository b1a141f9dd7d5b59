//! Prints to stdout and stderr, answers with env `GREETING` and the contents of the file named by
//! `?file=<path>` (default `api/message.txt`, relative to the function's root).

use wstd::http::{Body, Error, Request, Response};

#[wstd::http_server]
async fn main(request: Request<Body>) -> Result<Response<Body>, Error> {
    let greeting = std::env::var("GREETING").unwrap_or_else(|_| "<unset>".to_owned());
    let file = request
        .uri()
        .query()
        .and_then(|q| q.split('&').find_map(|kv| kv.strip_prefix("file=")))
        .unwrap_or("api/message.txt")
        .to_owned();
    println!("env guest: greeting is {greeting}");
    eprintln!("env guest: reading {file}");
    let contents = match std::fs::read_to_string(&file) {
        Ok(text) => text,
        Err(e) => format!("<cannot read {file}: {e}>"),
    };
    let write = match std::fs::write(&file, "overwritten") {
        Ok(()) => "allowed".to_owned(),
        Err(_) => "refused".to_owned(),
    };
    Ok(Response::builder()
        .header("x-write", write)
        .body(format!("greeting={greeting}\nfile={contents}").into())?)
}
