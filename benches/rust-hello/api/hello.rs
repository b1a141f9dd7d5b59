// The handler both sides serve: through eddy, and the same binary run directly (vercel_runtime
// serves on VERCEL_DEV_PORT when there is no VERCEL_IPC_PATH).
use vercel_runtime::{Error, Request, Response, ResponseBody, run, service_fn};

#[tokio::main]
async fn main() -> Result<(), Error> {
    run(service_fn(handler)).await
}

pub async fn handler(_req: Request) -> Result<Response<ResponseBody>, Error> {
    Ok(Response::builder()
        .status(200)
        .header("content-type", "text/plain")
        .body("hello".into())?)
}
