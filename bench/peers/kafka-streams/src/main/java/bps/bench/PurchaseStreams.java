package bps.bench;

import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.node.ObjectNode;
import java.util.Properties;
import java.util.concurrent.CountDownLatch;
import org.apache.kafka.common.serialization.Serdes;
import org.apache.kafka.streams.KafkaStreams;
import org.apache.kafka.streams.StreamsConfig;
import org.apache.kafka.streams.Topology;
import org.apache.kafka.streams.processor.api.Processor;
import org.apache.kafka.streams.processor.api.ProcessorContext;
import org.apache.kafka.streams.processor.api.Record;
import org.apache.kafka.streams.state.KeyValueStore;
import org.apache.kafka.streams.state.Stores;

/**
 * The flow of bps written the way the original design note meant it: Kafka Streams, the
 * purchases stream processed against the items in a state store, exactly_once_v2. Reads
 * bps' request topics and record format: INSERT_ITEM / RESTOCK commands from
 * item-command-requests and CREATED purchases from purchase-requests. Writes what a bps
 * node writes: into item-commands each decided command's REQUESTED record and its APPLIED /
 * REJECTED result, into purchases each decided purchase's CREATED record and its SUCCESSFUL
 * / FAILED outcome (with the item's version and quantity), both in one transaction, and
 * item snapshots into items; a purchaseId is decided once.
 *
 * <p>Usage: PurchaseStreams BOOTSTRAP PREFIX COMMIT_INTERVAL_MS STATE_DIR [THREADS]
 */
public final class PurchaseStreams {
  static final ObjectMapper JSON = new ObjectMapper();

  /** Decides commands and purchases of the items of one task, one record at a time. */
  static final class Decide implements Processor<String, String, String, String> {
    private ProcessorContext<String, String> ctx;
    private KeyValueStore<String, String> items;
    private KeyValueStore<String, String> decided;

    @Override
    public void init(ProcessorContext<String, String> context) {
      ctx = context;
      items = context.getStateStore("items");
      decided = context.getStateStore("decided");
    }

    @Override
    public void process(Record<String, String> rec) {
      ObjectNode in;
      try {
        in = (ObjectNode) JSON.readTree(rec.value());
      } catch (Exception e) { // also a ClassCastException: valid JSON, not an object
        return; // not a record of this flow
      }
      try {
        if (in.has("purchaseStatus")) {
          if ("CREATED".equals(in.path("purchaseStatus").asText())) purchase(rec, in);
        } else if ("REQUESTED".equals(in.path("status").asText())) {
          command(rec, in);
        }
      } catch (Exception e) {
        throw new RuntimeException(e);
      }
    }

    private void purchase(Record<String, String> rec, ObjectNode p) throws Exception {
      String id = p.path("purchaseId").asText();
      if (decided.get(id) != null) return; // decided once
      String itemId = p.path("itemId").asText();
      long q = p.path("quantity").asLong();
      String stored = items.get(itemId);
      ObjectNode item = stored == null ? null : (ObjectNode) JSON.readTree(stored);
      ObjectNode out = p.deepCopy();
      if (q <= 0) fail(out, "INVALID_QUANTITY", item);
      else if (item == null) fail(out, "UNKNOWN_ITEM", null);
      else if (q > item.path("quantity").asLong()) fail(out, "INSUFFICIENT_STOCK", item);
      else {
        item.put("quantity", item.path("quantity").asLong() - q);
        item.put("version", item.path("version").asLong() + 1);
        String snapshot = JSON.writeValueAsString(item);
        items.put(itemId, snapshot);
        out.put("purchaseStatus", "SUCCESSFUL");
        out.put("itemVersion", item.path("version").asLong());
        out.put("itemQuantity", item.path("quantity").asLong());
        ctx.forward(decided(rec, snapshot), "to-items");
      }
      decided.put(id, out.path("purchaseStatus").asText());
      withRequest(rec, JSON.writeValueAsString(out), "to-purchases");
    }

    /** The request as it was read, then its outcome, into one output topic (as a bps node). */
    private void withRequest(Record<String, String> rec, String outcome, String sink) {
      ctx.forward(decided(rec, rec.value()), sink);
      ctx.forward(decided(rec, outcome), sink);
    }

    /** An output stamped with the time of the decision (Kafka Streams would keep the input's). */
    private static Record<String, String> decided(Record<String, String> in, String value) {
      return in.withValue(value).withTimestamp(System.currentTimeMillis());
    }

    private static void fail(ObjectNode out, String reason, ObjectNode item) {
      out.put("purchaseStatus", "FAILED");
      out.put("reason", reason);
      out.put("itemVersion", item == null ? 0 : item.path("version").asLong());
      out.put("itemQuantity", item == null ? 0 : item.path("quantity").asLong());
    }

    private void command(Record<String, String> rec, ObjectNode c) throws Exception {
      String itemId = c.path("itemId").asText();
      String stored = items.get(itemId);
      ObjectNode item = stored == null ? null : (ObjectNode) JSON.readTree(stored);
      ObjectNode out = c.deepCopy();
      String type = c.path("type").asText();
      String reason = null;
      if ("INSERT_ITEM".equals(type)) {
        if (item != null) reason = "ITEM_EXISTS";
        else {
          item = JSON.createObjectNode();
          item.put("schemaVersion", 1);
          item.put("itemId", itemId);
          item.put("description", c.path("description").asText());
          item.put("quantity", c.path("quantity").asLong());
          item.put("version", 1);
        }
      } else if ("RESTOCK".equals(type)) {
        if (item == null) reason = "UNKNOWN_ITEM";
        else {
          item.put("quantity", item.path("quantity").asLong() + c.path("amount").asLong());
          item.put("version", item.path("version").asLong() + 1);
        }
      } else {
        return; // the benchmark sends inserts and restocks only
      }
      out.put("status", reason == null ? "APPLIED" : "REJECTED");
      if (reason != null) out.put("reason", reason);
      out.put("itemVersion", item == null ? 0 : item.path("version").asLong());
      out.put("itemQuantity", item == null ? 0 : item.path("quantity").asLong());
      if (reason == null) {
        String snapshot = JSON.writeValueAsString(item);
        items.put(itemId, snapshot);
        ctx.forward(decided(rec, snapshot), "to-items");
      }
      withRequest(rec, JSON.writeValueAsString(out), "to-commands");
    }
  }

  public static void main(String[] args) throws Exception {
    if (args.length < 4) {
      System.err.println("usage: PurchaseStreams BOOTSTRAP PREFIX COMMIT_INTERVAL_MS STATE_DIR [THREADS]");
      System.exit(2);
    }
    String prefix = args[1];
    var string = Serdes.String();
    Topology t = new Topology();
    t.addSource(
        "commands", string.deserializer(), string.deserializer(), prefix + "item-command-requests");
    t.addSource("purchases", string.deserializer(), string.deserializer(), prefix + "purchase-requests");
    t.addProcessor("decide", Decide::new, "commands", "purchases");
    t.addStateStore(
        Stores.keyValueStoreBuilder(Stores.persistentKeyValueStore("items"), string, string), "decide");
    t.addStateStore(
        Stores.keyValueStoreBuilder(Stores.persistentKeyValueStore("decided"), string, string), "decide");
    t.addSink("to-purchases", prefix + "purchases", string.serializer(), string.serializer(), "decide");
    t.addSink("to-commands", prefix + "item-commands", string.serializer(), string.serializer(), "decide");
    t.addSink("to-items", prefix + "items", string.serializer(), string.serializer(), "decide");

    Properties p = new Properties();
    p.put(StreamsConfig.APPLICATION_ID_CONFIG, prefix + "kafka-streams");
    p.put(StreamsConfig.BOOTSTRAP_SERVERS_CONFIG, args[0]);
    p.put(StreamsConfig.PROCESSING_GUARANTEE_CONFIG, StreamsConfig.EXACTLY_ONCE_V2);
    p.put(StreamsConfig.COMMIT_INTERVAL_MS_CONFIG, Integer.parseInt(args[2]));
    p.put(StreamsConfig.STATE_DIR_CONFIG, args[3]);
    p.put(StreamsConfig.NUM_STREAM_THREADS_CONFIG, args.length > 4 ? Integer.parseInt(args[4]) : 1);
    p.put(StreamsConfig.REPLICATION_FACTOR_CONFIG, 1);
    // Tuned like bps' clients: the same linger and compression.
    p.put(StreamsConfig.producerPrefix("linger.ms"), 5);
    p.put(StreamsConfig.producerPrefix("compression.type"), "lz4");
    KafkaStreams streams = new KafkaStreams(t, p);
    CountDownLatch done = new CountDownLatch(1);
    Runtime.getRuntime().addShutdownHook(new Thread(() -> {
      streams.close();
      done.countDown();
    }));
    streams.start();
    done.await();
  }
}
