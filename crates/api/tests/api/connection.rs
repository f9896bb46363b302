//! One HTTP/1.1 connection, spoken to byte by byte: requests pipelined in one write, a request
//! that arrives in pieces, a body larger than any connection buffer, and an idle event stream
//! woken by each change. The server holds no buffer on a connection between requests or between
//! a stream's events (vendor/actix-http/HERALD.md), so each of these allocates anew.

use std::time::Duration;

use herald_core::JobOutput;
use serde_json::{Value, json};
use tokio::io::{AsyncBufReadExt, AsyncReadExt, AsyncWriteExt, BufReader};
use tokio::net::TcpStream;
use tokio::net::tcp::{OwnedReadHalf, OwnedWriteHalf};

use crate::helpers::{TestApp, spawn_app};

const GENEROUS: Duration = Duration::from_secs(10);

/// A response read off the socket: its status and, with a `Content-Length`, its body.
struct Answer {
    status: u16,
    body: Vec<u8>,
}

impl Answer {
    fn json(&self) -> Value {
        serde_json::from_slice(&self.body).expect("a JSON body")
    }
}

async fn connect(app: &TestApp) -> (BufReader<OwnedReadHalf>, OwnedWriteHalf) {
    let socket = TcpStream::connect(app.address.trim_start_matches("http://"))
        .await
        .unwrap();
    let (read, write) = socket.into_split();
    (BufReader::new(read), write)
}

/// A connection whose receive buffer is small, so that a large answer fills it and the
/// server's writes stop part way until the client reads.
async fn connect_narrow(app: &TestApp) -> (BufReader<OwnedReadHalf>, OwnedWriteHalf) {
    let socket = tokio::net::TcpSocket::new_v4().unwrap();
    socket.set_recv_buffer_size(16 * 1024).unwrap();
    let address = app.address.trim_start_matches("http://").parse().unwrap();
    let (read, write) = socket.connect(address).await.unwrap().into_split();
    (BufReader::new(read), write)
}

/// Reads a status line and headers; the body only when `Content-Length` says how long it is.
async fn read_head(reader: &mut BufReader<OwnedReadHalf>) -> (u16, Option<usize>) {
    let mut line = String::new();
    tokio::time::timeout(GENEROUS, reader.read_line(&mut line))
        .await
        .expect("a status line in time")
        .unwrap();
    let status = line
        .split(' ')
        .nth(1)
        .and_then(|s| s.parse().ok())
        .unwrap_or_else(|| panic!("a status line, got {line:?}"));
    let mut length = None;
    loop {
        line.clear();
        reader.read_line(&mut line).await.unwrap();
        let header = line.trim_end();
        if header.is_empty() {
            return (status, length);
        }
        let (name, value) = header.split_once(':').unwrap();
        if name.eq_ignore_ascii_case("content-length") {
            length = Some(value.trim().parse().unwrap());
        }
    }
}

async fn read_answer(reader: &mut BufReader<OwnedReadHalf>) -> Answer {
    let (status, length) = read_head(reader).await;
    let mut body = vec![0; length.expect("a Content-Length")];
    reader.read_exact(&mut body).await.unwrap();
    Answer { status, body }
}

/// Writes each piece as its own segment, with a pause after it so that the server reads it on
/// its own; what the server answers must not depend on the pauses.
async fn write_in_pieces<'a>(
    writer: &mut OwnedWriteHalf,
    pieces: impl IntoIterator<Item = &'a [u8]>,
) {
    for piece in pieces {
        writer.write_all(piece).await.unwrap();
        writer.flush().await.unwrap();
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
}

/// Reads a `202`, showing the problem it got otherwise.
async fn read_accepted(reader: &mut BufReader<OwnedReadHalf>) -> Value {
    let answer = read_answer(reader).await;
    assert_eq!(
        answer.status,
        202,
        "{}",
        String::from_utf8_lossy(&answer.body)
    );
    answer.json()
}

/// The connection serves one more request after what it carried.
async fn assert_serves_the_next_request(
    reader: &mut BufReader<OwnedReadHalf>,
    writer: &mut OwnedWriteHalf,
) {
    writer
        .write_all(b"GET /healthz HTTP/1.1\r\nHost: herald\r\n\r\n")
        .await
        .unwrap();
    assert_eq!(read_answer(reader).await.status, 200);
}

fn post_job(body: &str) -> String {
    format!(
        "POST /v1/jobs HTTP/1.1\r\nHost: herald\r\nContent-Type: application/json\r\n\
         Content-Length: {}\r\n\r\n{body}",
        body.len()
    )
}

#[tokio::test]
async fn requests_pipelined_in_one_write_are_each_answered_in_order() {
    let app = spawn_app().await;
    let (mut reader, mut writer) = connect(&app).await;
    let requests = [
        post_job(r#"{"type":"demo.sleep","payload":{"n":1}}"#),
        post_job(r#"{"type":"demo.report","payload":{"n":2}}"#),
        "GET /healthz HTTP/1.1\r\nHost: herald\r\n\r\n".to_owned(),
    ]
    .concat();
    writer.write_all(requests.as_bytes()).await.unwrap();

    let first = read_answer(&mut reader).await;
    let second = read_answer(&mut reader).await;
    let health = read_answer(&mut reader).await;
    assert_eq!(
        (first.status, second.status, health.status),
        (202, 202, 200)
    );
    assert_eq!(first.json()["type"], "demo.sleep");
    assert_eq!(second.json()["type"], "demo.report");
    assert_ne!(first.json()["id"], second.json()["id"]);
}

#[tokio::test]
async fn a_request_that_arrives_in_small_pieces_is_read_whole_and_the_connection_goes_on() {
    let app = spawn_app().await;
    let (mut reader, mut writer) = connect(&app).await;
    let request = post_job(r#"{"type":"demo.sleep","payload":{"pieces":true}}"#);
    write_in_pieces(&mut writer, request.as_bytes().chunks(7)).await;
    assert_eq!(read_accepted(&mut reader).await["type"], "demo.sleep");

    // The next head comes in two writes after a pause: the connection held no buffer in
    // between, and the first half must wait in one for the second.
    writer.write_all(b"GET /heal").await.unwrap();
    writer.flush().await.unwrap();
    tokio::time::sleep(Duration::from_millis(20)).await;
    writer
        .write_all(b"thz HTTP/1.1\r\nHost: herald\r\n\r\n")
        .await
        .unwrap();
    assert_eq!(read_answer(&mut reader).await.status, 200);
}

#[tokio::test]
async fn a_chunked_body_whose_chunks_are_cut_across_writes_is_read_whole() {
    let app = spawn_app().await;
    let (mut reader, mut writer) = connect(&app).await;
    let body = r#"{"type":"demo.sleep","payload":{"chunked":"yes, in pieces"}}"#;
    let (first, second) = body.split_at(20);
    let pieces = [
        "POST /v1/jobs HTTP/1.1\r\nHost: herald\r\nContent-Type: application/json\r\n\
         Transfer-Encoding: chunked\r\n\r\n"
            .to_owned(),
        format!("{:x}\r\n{}", first.len(), &first[..7]),
        format!("{}\r\n{:x}", &first[7..], second.len()),
        format!("\r\n{second}\r\n0\r"),
        "\n\r\n".to_owned(),
    ];
    write_in_pieces(&mut writer, pieces.iter().map(|p| p.as_bytes())).await;
    let accepted = read_accepted(&mut reader).await;
    let id = accepted["id"].as_str().unwrap();
    let claimed = app.claim_with_payload("demo.sleep").await;
    assert_eq!(claimed.lease.job.id.to_string(), id);
    assert_eq!(claimed.payload, json!({"chunked": "yes, in pieces"}));
}

#[tokio::test]
async fn a_large_result_reaches_a_slow_reader_byte_for_byte() {
    let app = TestApp::builder().max_result_bytes(4 << 20).spawn().await;
    let id = crate::helpers::id_of(&app.submit("demo.report").await).to_owned();
    let lease = app.claim("demo.report").await;
    let body: Vec<u8> = (0..3 << 20).map(|i: u32| (i % 251) as u8).collect();
    let output = JobOutput {
        content_type: "application/octet-stream".to_owned(),
        body: body.clone(),
    };
    app.complete(lease, Some(output)).await;

    let (mut reader, mut writer) = connect_narrow(&app).await;
    writer
        .write_all(format!("GET /v1/jobs/{id}/result HTTP/1.1\r\nHost: herald\r\n\r\n").as_bytes())
        .await
        .unwrap();
    let (status, length) = read_head(&mut reader).await;
    assert_eq!((status, length), (200, Some(body.len())));
    // Slow at first, with a narrow window: the server's writes stop part way and resume.
    let mut received = vec![0; body.len()];
    for piece in received[..512 * 1024].chunks_mut(64 * 1024) {
        tokio::time::sleep(Duration::from_millis(10)).await;
        reader.read_exact(piece).await.unwrap();
    }
    reader
        .read_exact(&mut received[512 * 1024..])
        .await
        .unwrap();
    assert!(received == body, "the result arrived changed");

    assert_serves_the_next_request(&mut reader, &mut writer).await;
}

#[tokio::test]
async fn a_body_larger_than_any_connection_buffer_arrives_byte_for_byte() {
    let app = spawn_app().await;
    let (mut reader, mut writer) = connect(&app).await;
    // 200 KiB of text (under the 256 KiB payload bound) that a shifted or dropped chunk
    // would change.
    let text: String = (0..200 * 1024)
        .map(|i| (b'a' + (i % 26) as u8) as char)
        .collect();
    let body = json!({"type": "demo.sleep", "payload": {"text": text}}).to_string();
    writer.write_all(post_job(&body).as_bytes()).await.unwrap();
    assert_eq!(read_answer(&mut reader).await.status, 202);

    let claimed = app.claim_with_payload("demo.sleep").await;
    assert_eq!(claimed.payload["text"], text.as_str());

    // The same connection takes the next request.
    assert_serves_the_next_request(&mut reader, &mut writer).await;
}

/// The next `data:` line of an event stream read off the socket (chunk sizes and other lines
/// skipped), as JSON.
async fn next_data(reader: &mut BufReader<OwnedReadHalf>) -> Value {
    let mut line = String::new();
    loop {
        line.clear();
        let read = tokio::time::timeout(GENEROUS, reader.read_line(&mut line))
            .await
            .expect("an event in time")
            .unwrap();
        assert!(read > 0, "the stream ended");
        if let Some(data) = line.trim_end().strip_prefix("data: ") {
            return serde_json::from_str(data).unwrap();
        }
    }
}

#[tokio::test]
async fn an_idle_event_stream_wakes_for_each_change_and_ends_after_the_last() {
    let app = spawn_app().await;
    let id = crate::helpers::id_of(&app.submit("demo.sleep").await).to_owned();
    let (mut reader, mut writer) = connect(&app).await;
    writer
        .write_all(format!("GET /v1/jobs/{id}/events HTTP/1.1\r\nHost: herald\r\n\r\n").as_bytes())
        .await
        .unwrap();
    let (status, _) = read_head(&mut reader).await;
    assert_eq!(status, 200);
    assert_eq!(next_data(&mut reader).await["status"], "pending");

    let mut lease = app.claim("demo.sleep").await;
    assert_eq!(next_data(&mut reader).await["status"], "processing");
    for percent in [30, 60, 90] {
        // Between changes the connection is idle, holding no buffer.
        tokio::time::sleep(Duration::from_millis(50)).await;
        app.progress(&mut lease, percent).await;
        assert_eq!(next_data(&mut reader).await["progress"]["percent"], percent);
    }
    app.complete(lease, None).await;
    assert_eq!(next_data(&mut reader).await["status"], "completed");

    // The server ends the response; the connection then serves the next request.
    let mut line = String::new();
    loop {
        line.clear();
        reader.read_line(&mut line).await.unwrap();
        if line == "0\r\n" {
            reader.read_line(&mut line).await.unwrap();
            break;
        }
    }
    assert_serves_the_next_request(&mut reader, &mut writer).await;
}
