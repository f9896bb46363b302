// `verifyWebhook` on real deliveries from the herald under test, and on the Standard Webhooks
// example; and the webhook subscription routes that set the deliveries up.

import assert from "node:assert/strict";
import { describe, test } from "node:test";

import { WebhookVerificationError, verifyWebhook } from "../dist/webhook.js";
import { client, eventually, startReceiver, within } from "../testing/harness.mjs";

const herald = client();

/** Waits for the receiver to get the `type` event of job `id`; answers that request. */
async function deliveryOf(receiver, id, type) {
  const body = (request) => JSON.parse(new TextDecoder().decode(request.body));
  const matches = (request) => body(request).type === type && body(request).data.id === id;
  await eventually(60_000, `the ${type} delivery of ${id}`, () => receiver.received.some(matches));
  return receiver.received.find(matches);
}

describe("verifyWebhook", () => {
  test("verifies a real delivery to a subscription, and refuses it altered or late", async () => {
    const receiver = await startReceiver();
    const subscription = await herald.webhooks.create({
      url: receiver.url,
      events: ["job.completed"],
      job_types: ["demo.sleep"],
    });
    try {
      assert.match(subscription.secret, /^whsec_/);
      const job = await herald.submit("demo.sleep", { seconds: 0 });
      const delivery = await deliveryOf(receiver, job.id, "job.completed");
      assert.equal(delivery.method, "POST");

      const event = verifyWebhook(subscription.secret, delivery.headers, delivery.body);
      assert.equal(event.type, "job.completed");
      assert.equal(event.data.id, job.id);
      assert.equal(event.data.status, "completed");
      // The same, as text and as fetch's Headers.
      const text = new TextDecoder().decode(delivery.body);
      const headers = new Headers(
        Object.entries(delivery.headers).map(([name, value]) => [name, String(value)]),
      );
      assert.deepEqual(verifyWebhook(subscription.secret, headers, text), event);

      const tampered = text.replace('"completed"', '"failed"');
      assert.notEqual(tampered, text);
      assert.throws(
        () => verifyWebhook(subscription.secret, delivery.headers, tampered),
        (error) =>
          error instanceof WebhookVerificationError && /no signature matches/.test(error.message),
      );
      assert.throws(
        () => verifyWebhook(`whsec_${"B".repeat(43)}=`, delivery.headers, text),
        /no signature matches/,
      );
      const sent = Number(delivery.headers["webhook-timestamp"]);
      const later = new Date((sent + 301) * 1000);
      assert.throws(
        () => verifyWebhook(subscription.secret, delivery.headers, text, { now: later }),
        /301 s in the past \(tolerance 300 s\)/,
      );
      assert.doesNotThrow(() =>
        verifyWebhook(subscription.secret, delivery.headers, text, {
          now: later,
          toleranceSeconds: 600,
        }),
      );
      const earlier = new Date((sent - 400) * 1000);
      assert.throws(
        () => verifyWebhook(subscription.secret, delivery.headers, text, { now: earlier }),
        /400 s in the future/,
      );
      const { "webhook-signature": _, ...unsigned } = delivery.headers;
      assert.throws(
        () => verifyWebhook(subscription.secret, unsigned, text),
        /the webhook-signature header is missing/,
      );
    } finally {
      await herald.webhooks.remove(subscription.id);
      await receiver.close();
    }
  });

  test("verifies a job's own webhook with the secret Herald generated", async () => {
    const receiver = await startReceiver();
    try {
      const webhook = { url: receiver.url };
      const job = await herald.submit("demo.sleep", { seconds: 0 }, { webhook });
      const secret = job.webhook?.secret;
      assert.match(secret ?? "", /^whsec_/, JSON.stringify(job.webhook));
      const delivery = await deliveryOf(receiver, job.id, "job.completed");
      const event = verifyWebhook(secret, delivery.headers, delivery.body);
      assert.equal(event.data.id, job.id);
      // The job shows how its delivery went.
      await eventually(30_000, "the delivery to be recorded", async () => {
        const read = await herald.get(job.id);
        return read.webhook?.state === "delivered";
      });
    } finally {
      await receiver.close();
    }
  });

  test("checks the Standard Webhooks example signature", () => {
    const secret = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw";
    const headers = {
      "webhook-id": "msg_p5jXN8AQM9LWM0D4loKWxJek",
      "webhook-timestamp": "1614265330",
      // A signature of another secret first, as during a rotation.
      "webhook-signature":
        "v1,bm9ldHRoZXNpZ25hdHVyZQ== v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE=",
    };
    const now = new Date(1614265330 * 1000);
    assert.deepEqual(verifyWebhook(secret, headers, '{"test": 2432232314}', { now }), {
      test: 2432232314,
    });
    assert.throws(
      () => {
        const other = { ...headers, "webhook-id": "msg_other" };
        verifyWebhook(secret, other, '{"test": 2432232314}', { now });
      },
      /no signature matches/,
    );
    assert.throws(
      () => verifyWebhook(secret, { ...headers, "webhook-signature": "v2,abc" }, "{}", { now }),
      /holds no v1 signature/,
    );
    // The right signature under another version (or none) is no v1 signature.
    for (const prefix of ["v2,", "v1a,", "V1,", ""]) {
      const signature = `${prefix}g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE=`;
      const signed = { ...headers, "webhook-signature": signature };
      assert.throws(
        () => verifyWebhook(secret, signed, '{"test": 2432232314}', { now }),
        /holds no v1 signature/,
        prefix,
      );
    }
  });
});

describe("webhook subscriptions", () => {
  test("are listed, read, changed, rotated and removed", async () => {
    const created = await herald.webhooks.create({ url: "http://127.0.0.1:9/hooks" });
    try {
      assert.equal(created.enabled, true);
      assert.ok((await herald.webhooks.list()).data.some((hook) => hook.id === created.id));
      assert.equal((await herald.webhooks.get(created.id)).url, "http://127.0.0.1:9/hooks");
      const paused = await herald.webhooks.update(created.id, { enabled: false });
      assert.equal(paused.enabled, false);
      assert.equal(paused.secret, undefined);
      const rotated = await herald.webhooks.rotateSecret(created.id);
      assert.match(rotated.secret, /^whsec_/);
      assert.notEqual(rotated.secret, created.secret);
      const chosen = await herald.webhooks.rotateSecret(created.id, { secret: "a secret of mine" });
      assert.equal(chosen.secret, "a secret of mine");
      const page = await herald.webhooks.deliveries(created.id, { limit: 5 });
      assert.deepEqual(page.data, []);
    } finally {
      await herald.webhooks.remove(created.id);
    }
    const gone = await herald.webhooks.get(created.id).then(
      () => assert.fail("a removed subscription was found"),
      (error) => error,
    );
    assert.equal(gone.status, 404);
  });

  test("deliveries are listed, read and retried", async () => {
    const receiver = await startReceiver();
    const subscription = await herald.webhooks.create({
      url: receiver.url,
      events: ["job.completed"],
      job_types: ["demo.report"],
    });
    try {
      const job = await herald.submit("demo.report", { rows: 1 });
      await deliveryOf(receiver, job.id, "job.completed");
      let delivery;
      await eventually(30_000, "the delivery to be recorded", async () => {
        const page = await herald.webhooks.deliveries(subscription.id, { status: "delivered" });
        delivery = page.data.find((d) => d.job_id === job.id);
        return delivery !== undefined;
      });
      assert.equal((await herald.webhooks.delivery(delivery.id)).id, delivery.id);
      const retried = await herald.webhooks.retryDelivery(delivery.id);
      assert.equal(retried.state, "pending");
      const again = await within(
        60_000,
        "the retried delivery",
        eventually(60_000, "a second delivery", () =>
          receiver.received.filter((r) => r.headers["webhook-id"] === delivery.id).length >= 2,
        ),
      );
      assert.equal(again, undefined);
    } finally {
      await herald.webhooks.remove(subscription.id);
      await receiver.close();
    }
  });
});
