// The one place librabbitmq's headers enter Swift. Only CourierAMQP imports this module.
#ifndef COURIER_CRABBITMQ_SHIM_H
#define COURIER_CRABBITMQ_SHIM_H

// librabbitmq 0.11 (Debian 12) installs <amqp.h>; from 0.12 the headers live in <rabbitmq-c/...>.
#if __has_include(<rabbitmq-c/amqp.h>)
#include <rabbitmq-c/amqp.h>
#include <rabbitmq-c/tcp_socket.h>
#include <rabbitmq-c/ssl_socket.h>
#else
#include <amqp.h>
#include <amqp_tcp_socket.h>
#include <amqp_ssl_socket.h>
#endif

#include <stdint.h>

// amqp_login_with_properties is C-variadic, which Swift cannot call. PLAIN is the only mechanism we use.
static inline amqp_rpc_reply_t courier_amqp_login_plain(amqp_connection_state_t state,
                                                        const char *vhost,
                                                        int channel_max,
                                                        int frame_max,
                                                        int heartbeat,
                                                        const amqp_table_t *client_properties,
                                                        const char *user,
                                                        const char *password) {
    return amqp_login_with_properties(state, vhost, channel_max, frame_max, heartbeat,
                                      client_properties, AMQP_SASL_METHOD_PLAIN, user, password);
}

// Method numbers are macros with casts, which Swift does not import: re-export them as constants.
static const amqp_method_number_t courier_method_connection_close = AMQP_CONNECTION_CLOSE_METHOD;
static const amqp_method_number_t courier_method_connection_close_ok = AMQP_CONNECTION_CLOSE_OK_METHOD;
static const amqp_method_number_t courier_method_connection_blocked = AMQP_CONNECTION_BLOCKED_METHOD;
static const amqp_method_number_t courier_method_connection_unblocked = AMQP_CONNECTION_UNBLOCKED_METHOD;
static const amqp_method_number_t courier_method_channel_close = AMQP_CHANNEL_CLOSE_METHOD;
static const amqp_method_number_t courier_method_channel_close_ok = AMQP_CHANNEL_CLOSE_OK_METHOD;
static const amqp_method_number_t courier_method_basic_deliver = AMQP_BASIC_DELIVER_METHOD;
static const amqp_method_number_t courier_method_basic_return = AMQP_BASIC_RETURN_METHOD;
static const amqp_method_number_t courier_method_basic_ack = AMQP_BASIC_ACK_METHOD;
static const amqp_method_number_t courier_method_basic_nack = AMQP_BASIC_NACK_METHOD;
static const amqp_method_number_t courier_method_basic_cancel = AMQP_BASIC_CANCEL_METHOD;
static const amqp_method_number_t courier_method_basic_get_ok = AMQP_BASIC_GET_OK_METHOD;
static const amqp_method_number_t courier_method_basic_get_empty = AMQP_BASIC_GET_EMPTY_METHOD;

#endif
