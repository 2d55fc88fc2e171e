package eu.mchub.serde;

import io.apicurio.registry.serde.SerdeConfig;
import io.apicurio.registry.serde.avro.AvroKafkaDeserializer;
import java.time.Duration;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.Properties;
import org.apache.avro.generic.GenericContainer;
import org.apache.avro.generic.GenericData;
import org.apache.kafka.clients.consumer.ConsumerConfig;
import org.apache.kafka.clients.consumer.ConsumerRecord;
import org.apache.kafka.clients.consumer.KafkaConsumer;
import org.apache.kafka.common.PartitionInfo;
import org.apache.kafka.common.TopicPartition;
import org.apache.kafka.common.serialization.ByteArrayDeserializer;

/**
 * Reads a whole topic, from the beginning to the end offsets it has when the program
 * starts, and decodes each record value with Apicurio Registry's own Avro deserializer.
 *
 * <p>Usage: {@code DecodeTopic --bootstrap HOST:PORT --topic NAME --registry URL
 * [--sasl-user U --sasl-password P] [--timeout-ms N]}. {@code --registry} is the
 * Confluent-compatible URL ({@code http://host:port/apis/ccompat/v7}); the Apicurio 2.x
 * serde speaks Apicurio's own API, so it is given {@code http://host:port/apis/registry/v2}
 * of the same server. The records are framed the Confluent way (magic byte 0, 4-byte
 * big-endian id, Avro binary body), and the id is the one the ccompat API returns on
 * registration, a <em>content</em> id: hence {@code apicurio.registry.as-confluent=true}
 * (the 4-byte {@code Legacy4ByteIdHandler}) and {@code apicurio.registry.use-id=contentId}.
 * Record headers are ignored ({@code apicurio.registry.headers.enabled=false}).
 *
 * <p>Prints one JSON line per record, {@code {"partition":P,"offset":O,"schema":"full.Name",
 * "value":...}} (the value as Avro's {@code GenericData.toString}, which is JSON), or
 * {@code {"partition":P,"offset":O,"error":"..."}} when a record cannot be decoded, and a last
 * line {@code {"count":N,"errors":M}}. Exit code 2 on bad arguments or when the topic cannot
 * be read to its end within the timeout.
 */
public final class DecodeTopic {

    private DecodeTopic() {}

    public static void main(String[] args) throws Exception {
        System.setProperty("org.slf4j.simpleLogger.defaultLogLevel", "warn");
        System.setProperty("org.slf4j.simpleLogger.logFile", "System.err");
        Map<String, String> opts = parse(args);
        String bootstrap = require(opts, "bootstrap");
        String topic = require(opts, "topic");
        String registry = require(opts, "registry");
        long timeoutMs = Long.parseLong(opts.getOrDefault("timeout-ms", "60000"));

        Properties props = new Properties();
        props.put(ConsumerConfig.BOOTSTRAP_SERVERS_CONFIG, bootstrap);
        props.put(ConsumerConfig.KEY_DESERIALIZER_CLASS_CONFIG, ByteArrayDeserializer.class.getName());
        props.put(ConsumerConfig.VALUE_DESERIALIZER_CLASS_CONFIG, ByteArrayDeserializer.class.getName());
        props.put(ConsumerConfig.ENABLE_AUTO_COMMIT_CONFIG, "false");
        props.put(ConsumerConfig.AUTO_OFFSET_RESET_CONFIG, "earliest");
        props.put(ConsumerConfig.CLIENT_ID_CONFIG, "mchub-serde-consumer");
        if (opts.containsKey("sasl-user")) {
            props.put("security.protocol", "SASL_PLAINTEXT");
            props.put("sasl.mechanism", "SCRAM-SHA-512");
            props.put("sasl.jaas.config",
                    "org.apache.kafka.common.security.scram.ScramLoginModule required username=\""
                            + jaas(opts.get("sasl-user")) + "\" password=\""
                            + jaas(require(opts, "sasl-password")) + "\";");
        }

        Map<String, Object> serde = new HashMap<>();
        serde.put(SerdeConfig.REGISTRY_URL, apicurioApi(registry));
        serde.put(SerdeConfig.ENABLE_CONFLUENT_ID_HANDLER, "true");
        serde.put(SerdeConfig.USE_ID, "contentId");
        serde.put(SerdeConfig.ENABLE_HEADERS, "false");

        long count = 0;
        long errors = 0;
        try (KafkaConsumer<byte[], byte[]> consumer = new KafkaConsumer<>(props);
                AvroKafkaDeserializer<Object> deserializer = new AvroKafkaDeserializer<>()) {
            deserializer.configure(serde, false);
            List<PartitionInfo> infos = consumer.partitionsFor(topic, Duration.ofMillis(timeoutMs));
            if (infos == null || infos.isEmpty()) {
                fail("topic " + topic + " not found");
            }
            List<TopicPartition> partitions = new ArrayList<>();
            for (PartitionInfo info : infos) {
                partitions.add(new TopicPartition(topic, info.partition()));
            }
            consumer.assign(partitions);
            consumer.seekToBeginning(partitions);
            Map<TopicPartition, Long> end = consumer.endOffsets(partitions, Duration.ofMillis(timeoutMs));
            long deadline = System.currentTimeMillis() + timeoutMs;
            while (!reachedEnd(consumer, end)) {
                if (System.currentTimeMillis() > deadline) {
                    fail("topic " + topic + " not read to its end offsets " + end + " in "
                            + timeoutMs + " ms");
                }
                for (ConsumerRecord<byte[], byte[]> record : consumer.poll(Duration.ofMillis(500))) {
                    if (record.offset() >= end.get(new TopicPartition(topic, record.partition()))) {
                        continue; // written after the start: not ours to read
                    }
                    count++;
                    String where = "{\"partition\":" + record.partition() + ",\"offset\":" + record.offset();
                    try {
                        Object value = deserializer.deserialize(topic, record.headers(), record.value());
                        String schema = value instanceof GenericContainer
                                ? str(((GenericContainer) value).getSchema().getFullName())
                                : "null";
                        String json = value == null ? "null" : GenericData.get().toString(value);
                        System.out.println(where + ",\"schema\":" + schema + ",\"value\":" + json + "}");
                    } catch (RuntimeException e) {
                        errors++;
                        System.out.println(where + ",\"error\":" + str(describe(e)) + "}");
                    }
                }
            }
        }
        System.out.println("{\"count\":" + count + ",\"errors\":" + errors + "}");
        System.out.flush();
    }

    /** The Apicurio v2 API of the server whose Confluent-compatible URL is {@code url}. */
    static String apicurioApi(String url) {
        String base = url.replaceAll("/+$", "");
        int at = base.indexOf("/apis/ccompat/");
        return at < 0 ? base : base.substring(0, at) + "/apis/registry/v2";
    }

    private static boolean reachedEnd(KafkaConsumer<byte[], byte[]> consumer, Map<TopicPartition, Long> end) {
        for (Map.Entry<TopicPartition, Long> e : end.entrySet()) {
            if (consumer.position(e.getKey()) < e.getValue()) {
                return false;
            }
        }
        return true;
    }

    private static String describe(Throwable e) {
        StringBuilder out = new StringBuilder(e.getClass().getName() + ": " + e.getMessage());
        for (Throwable cause = e.getCause(); cause != null && cause != cause.getCause(); cause = cause.getCause()) {
            out.append(" <- ").append(cause.getClass().getName()).append(": ").append(cause.getMessage());
        }
        return out.toString();
    }

    private static Map<String, String> parse(String[] args) {
        Map<String, String> opts = new HashMap<>();
        for (int i = 0; i < args.length; i++) {
            if (!args[i].startsWith("--") || i + 1 >= args.length) {
                fail("usage: DecodeTopic --bootstrap HOST:PORT --topic NAME --registry URL "
                        + "[--sasl-user U --sasl-password P] [--timeout-ms N]");
            }
            opts.put(args[i].substring(2), args[++i]);
        }
        return opts;
    }

    private static String require(Map<String, String> opts, String name) {
        String value = opts.get(name);
        if (value == null) {
            fail("missing --" + name);
        }
        return value;
    }

    private static void fail(String message) {
        System.err.println("DecodeTopic: " + message);
        System.exit(2);
    }

    private static String jaas(String value) {
        return value.replace("\\", "\\\\").replace("\"", "\\\"");
    }

    /** A JSON string literal. */
    static String str(String value) {
        if (value == null) {
            return "null";
        }
        StringBuilder out = new StringBuilder("\"");
        for (char c : value.toCharArray()) {
            switch (c) {
                case '"' -> out.append("\\\"");
                case '\\' -> out.append("\\\\");
                case '\n' -> out.append("\\n");
                case '\r' -> out.append("\\r");
                case '\t' -> out.append("\\t");
                default -> {
                    if (c < 0x20) {
                        out.append(String.format("\\u%04x", (int) c));
                    } else {
                        out.append(c);
                    }
                }
            }
        }
        return out.append('"').toString();
    }
}
